"""The operating point the server chooses from the hospitals' pooled validation counts."""

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from fedcore.results.metrics import binary_metrics
from fedcore.results.operating_point import (
    AT_POINT,
    GRID,
    TEST_COUNT_PREFIX,
    at_chosen_threshold,
    at_operating_point,
    choose_threshold,
    pooled_counts,
    scored,
    threshold_counts,
)


def _hospitals():
    rng = np.random.default_rng(3)
    out = []
    for n, share in (
        (120, 0.1),
        (80, 0.5),
        (200, 0.9),
    ):  # skewed hospitals, as the Dirichlet split makes
        y = (rng.random(n) < share).astype(int)
        p = np.clip(0.35 * y + 0.4 * rng.random(n) + 0.1, 0, 1)
        out.append((y, p))
    return out


def test_threshold_from_counts_equals_sklearn_roc_curve_on_pooled_predictions():
    # Prepare: three hospitals' validation labels and scores; only counts leave each.
    hospitals = _hospitals()
    reports = [threshold_counts(y, p) for y, p in hospitals]
    # Execute
    chosen = choose_threshold(pooled_counts(reports))
    # Assert: the grid threshold maximising Youden J on sklearn's ROC of the pooled predictions.
    y = np.concatenate([h[0] for h in hospitals])
    p = np.concatenate([h[1] for h in hospitals])
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    best_j, best_t = -np.inf, None
    for t in GRID:  # sklearn's point at t: the last threshold >= t (calls p >= t PNEUMONIA)
        at = np.where(thresholds >= t)[0]
        j = (tpr[at[-1]] - fpr[at[-1]]) if len(at) else 0.0
        if j > best_j + 1e-12:
            best_j, best_t = j, t
    assert chosen["threshold"] == best_t
    assert chosen["youden_j"] == pytest.approx(best_j)


def test_target_sensitivity_takes_the_highest_threshold_that_reaches_it():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.95, 0.8, 0.6, 0.3, 0.5, 0.2, 0.1, 0.05])
    pooled = pooled_counts([threshold_counts(y, p)])
    # 3 of 4 found (and no false alarm) at every threshold in (0.5, 0.6]: the highest such grid
    # point.
    assert choose_threshold(pooled, target_sensitivity=0.75)["threshold"] == max(
        t for t in GRID if t <= 0.6
    )
    assert choose_threshold(pooled, target_sensitivity=1.0)["sensitivity"] == 1.0
    # J = 0.75 with all found and one false alarm (0.2, 0.3] and with three found and none (0.5,
    # 0.6]:
    # ties take the lowest such threshold.
    assert choose_threshold(pooled)["threshold"] == min(t for t in GRID if t > 0.2)


def test_each_hospitals_figures_at_the_operating_point_come_from_its_test_counts():
    # Prepare: the threshold chosen from validation counts; each hospital sends its metrics at the
    # fixed threshold and its test counts over the grid, never its scores.
    hospitals = _hospitals()
    chosen = choose_threshold(pooled_counts([threshold_counts(y, p) for y, p in hospitals]))
    rng = np.random.default_rng(4)
    for y, p in hospitals:
        test_y, test_p = (
            y[rng.permutation(len(y))],
            p,
        )  # other labels for the same scores: a test split
        sent = binary_metrics(test_y, test_p, 0.5) | threshold_counts(
            test_y, test_p, prefix=TEST_COUNT_PREFIX
        )
        # Execute
        metrics = at_operating_point(sent, chosen)
        # Assert: what scoring its images at that threshold gives, to the last digit; no count kept.
        expected = binary_metrics(test_y, test_p, chosen["threshold"])
        assert metrics["op_threshold"] == chosen["threshold"]
        assert {k: metrics[f"op_{k}"] for k in AT_POINT} == {k: expected[k] for k in AT_POINT}
        assert metrics["accuracy"] == sent["accuracy"], (
            "the fixed threshold's figures stay beside them"
        )
        assert not any(k.startswith(("val_count:", "test_count:")) for k in metrics)


def test_without_test_counts_a_hospital_has_no_figures_at_the_operating_point():
    y, p = _hospitals()[0]
    sent = binary_metrics(y, p, 0.5) | threshold_counts(y, p)  # validation counts only, as before
    metrics = at_operating_point(sent, {"threshold": GRID[100]})
    assert "op_accuracy" not in metrics and not any(k.startswith("val_count:") for k in metrics)
    assert at_chosen_threshold(metrics) == metrics


def test_at_the_chosen_threshold_a_scope_reads_its_operating_point_figures():
    y, p = _hospitals()[2]
    t = GRID[len(GRID) // 2 + 40]
    metrics = scored(y, p, 0.5, {"threshold": t}, "hospital")
    shown = at_chosen_threshold(metrics)
    expected = binary_metrics(y, p, t)
    assert {k: shown[k] for k in AT_POINT} == {k: expected[k] for k in AT_POINT}
    assert shown["auroc"] == metrics["auroc"] and shown["loss"] == metrics["loss"]
