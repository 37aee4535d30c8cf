"""Calibration from counts: the hospitals' reliability bins, ECE, and the federated Platt map."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fedcore.results.calibration import (
    BINS,
    CALIBRATED_PREFIX,
    PlattMap,
    Reliability,
    logit,
)
from fedcore.results.operating_point import (
    TEST_COUNT_PREFIX,
    at_operating_point,
    pooled_counts,
    scored,
    threshold_counts,
)
from fedcore.results.recalibration import fit_from_counts, fit_scores, prior_shift


def _overconfident(n: int, seed: int, share: float = 0.6):
    """Labels drawn from sigmoid(z) and reported as sigmoid(2 z): an overconfident model whose
    true map is a = 0.5, b = 0."""
    rng = np.random.default_rng(seed)
    z = rng.normal(np.log(share / (1 - share)), 2.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-2 * z))


def _direct_ece(y, p, bins=BINS):
    # The textbook loop over images (Guo et al. 2017, eq. 3), bin k = [k/bins, (k+1)/bins).
    total = 0.0
    for k in range(bins):
        inside = [
            (yi, pi)
            for yi, pi in zip(y, p)
            if k / bins <= pi < (k + 1) / bins or (k == bins - 1 and pi == 1.0)
        ]
        if inside:
            labels, scores = zip(*inside)
            total += len(inside) / len(y) * abs(np.mean(scores) - np.mean(labels))
    return total


def test_ece_from_bins_equals_the_direct_computation_on_literal_scores():
    # Prepare: literal scores, one on every bin edge and 0 and 1 themselves.
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 1])
    p = np.array([0.0, 1 / 15, 0.2, 0.2, 0.5, 0.55, 0.93, 1.0, 0.31, 0.999])
    # Execute
    bins = Reliability.from_scores(y, p)
    # Assert
    assert bins.count.sum() == 10 and bins.positives.sum() == 6
    assert bins.count[0] == 1 and bins.count[1] == 1 and bins.count[13] == 1 and bins.count[14] == 2
    assert bins.ece() == pytest.approx(_direct_ece(y, p), abs=1e-12)


def test_pooled_bins_equal_the_bins_of_the_pooled_scores_and_survive_the_metrics_round_trip():
    # Prepare: three hospitals; only their bins (counts and sums) leave them.
    hospitals = [_overconfident(n, seed) for n, seed in ((120, 1), (80, 2), (300, 3))]
    sent = [Reliability.from_scores(y, p).to_metrics() for y, p in hospitals]
    # Execute
    received = [Reliability.from_metrics(m) for m in sent]
    pooled = received[0] + received[1] + received[2]
    # Assert
    y = np.concatenate([h[0] for h in hospitals])
    p = np.concatenate([h[1] for h in hospitals])
    direct = Reliability.from_scores(y, p)
    assert np.array_equal(pooled.count, direct.count)
    assert np.array_equal(pooled.positives, direct.positives)
    assert np.allclose(pooled.prob_sum, direct.prob_sum)
    assert pooled.ece() == pytest.approx(_direct_ece(y, p), abs=1e-12)
    assert all(isinstance(v, (int, float)) for m in sent for v in m.values())
    assert Reliability.from_metrics({"auroc": 0.9}) is None


def test_reliability_rows_give_predicted_against_observed_with_counts():
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.92])
    rows = Reliability.from_scores(y, p).rows()
    assert [(r["images"], r["pneumonia"]) for r in rows] == [(2, 1), (2, 2)]
    assert rows[0]["predicted"] == pytest.approx(0.1) and rows[0]["observed"] == 0.5
    assert rows[1]["low"] == pytest.approx(13 / 15) and rows[1]["high"] == pytest.approx(14 / 15)


def test_the_fit_from_pooled_counts_matches_the_same_fit_on_the_raw_scores():
    # Prepare: three skewed hospitals' validation scores; only grid counts leave each.
    hospitals = [
        _overconfident(n, seed, share)
        for n, seed, share in ((200, 4, 0.2), (150, 5, 0.9), (250, 6, 0.5))
    ]
    reports = [threshold_counts(y, p) for y, p in hospitals]
    # Execute
    from_counts = fit_from_counts(pooled_counts(reports))
    direct = fit_scores(
        np.concatenate([h[0] for h in hospitals]), np.concatenate([h[1] for h in hospitals])
    )
    # Assert: the counts place each image at the midpoint of its grid interval, at most half an
    # interval from its own logit: 0.0625 between P 0.018 and 0.982, but 0.5 to 1 beyond
    # |logit| 4, where this model puts half its images (its logits have sd 4). Measured here:
    # a 1.1 % apart, calibrated P at most 0.0024 apart (on the default run, seed 0, round 10,
    # 0.4 % apart); the tolerances (2 %, 0.005) leave room for that and fail a slope 5 % off.
    assert from_counts.a == pytest.approx(direct.a, rel=0.02)
    assert from_counts.b == direct.b == 0.0
    grid = np.linspace(0.001, 0.999, 999)
    assert np.abs(from_counts(grid) - direct(grid)).max() < 0.005
    # and it finds the true slope of this overconfident model
    assert from_counts.a == pytest.approx(0.5, abs=0.05)


def test_the_map_is_moved_to_the_target_prevalence_from_counts_alone():
    y, p = _overconfident(500, 11, share=0.75)
    mapping = fit_from_counts(pooled_counts([threshold_counts(y, p)]), target_prevalence=0.6)
    assert mapping.b == pytest.approx(prior_shift(y.mean(), 0.6), abs=1e-12)
    assert mapping.b == pytest.approx(np.log(0.6 / 0.4) - np.log(y.mean() / (1 - y.mean())))
    assert prior_shift(0.7, None) == 0.0


def test_the_map_lowers_the_calibration_error_on_new_images():
    # 2,000 images: on 600 the ECE of 15 bins still varies by about 0.03 between draws.
    y_val, p_val = _overconfident(2000, 7)
    y_test, p_test = _overconfident(2000, 8)
    mapping = fit_from_counts(pooled_counts([threshold_counts(y_val, p_val)]))
    before = Reliability.from_scores(y_test, p_test).ece()
    after = Reliability.from_scores(y_test, mapping(p_test)).ece()
    assert before > 0.08 and after < before / 2


@pytest.mark.parametrize("mapping", [PlattMap(0.5, -0.4), PlattMap(2.5, 1.0), PlattMap(1.0, 0.0)])
def test_a_monotone_map_changes_no_ranking_auroc_identical_to_the_digit(mapping):
    y, p = _overconfident(624, 9)
    p = p.astype(np.float32)
    assert roc_auc_score(y, mapping(p)) == roc_auc_score(y, p)


def test_no_map_without_both_classes():
    y = np.ones(50, int)
    p = np.linspace(0.1, 0.9, 50)
    assert fit_from_counts(pooled_counts([threshold_counts(y, p)])) is None
    assert fit_scores(y, p) is None


def test_map_round_trips_through_a_round_metrics_and_logit_stays_finite():
    mapping = PlattMap(0.7, -0.2)
    assert PlattMap.from_metrics(mapping.to_metrics() | {"auroc": 0.9}) == mapping
    assert PlattMap.from_metrics({"calibration_a": float("nan"), "calibration_b": 0.0}) is None
    assert np.isfinite(logit(np.array([0.0, 1.0]))).all()


def test_a_hospitals_test_report_gives_its_ece_and_the_server_reads_it_after_the_map():
    # Prepare: a hospital's test report (metrics, bins and grid counts) and the server's map.
    y, p = _overconfident(208, 10)
    report = scored(y, p, 0.5, None, "hospital_1 (test set)") | threshold_counts(
        y, p, prefix=TEST_COUNT_PREFIX
    )
    mapping = PlattMap(0.5, -0.4)
    # Execute
    read = at_operating_point(report, {"threshold": 0.5, "calibration": mapping})
    # Assert: its own ECE exactly; after the map read from its counts, within what the grid's
    # intervals allow (an image may land one bin off).
    assert read["ece"] == pytest.approx(_direct_ece(y, p), abs=1e-12)
    direct = Reliability.from_scores(y, mapping(p))
    assert read["ece_calibrated"] == pytest.approx(direct.ece(), abs=0.01)
    assert Reliability.from_metrics(read, CALIBRATED_PREFIX).count.sum() == 208
    assert not any(k.startswith(TEST_COUNT_PREFIX) for k in read)


def test_diagnose_applies_the_recorded_map_as_the_results_layer_does():
    from fedcore.diagnosis.calibrated import calibrated_probability

    mapping = PlattMap(0.83, -0.56)
    for p in (0.0, 1e-9, 0.2, 0.47, 0.71, 0.999, 1.0):
        assert calibrated_probability(p, mapping.to_metrics()) == pytest.approx(
            float(mapping(p)), abs=1e-12
        )
    assert calibrated_probability(0.5, {"auroc": 0.9}) is None
