import math

import numpy as np
import pytest

from fedcore.errors import FedXrayError
from fedcore.results.fairness import fairness_summary
from fedcore.results.metrics import binary_metrics


def test_binary_metrics_on_a_hand_computed_case():
    # 4 PNEUMONIA, 2 NORMAL. Calls at 0.5: TP=3 (0.9, 0.8, 0.6), FN=1 (0.4), FP=1 (0.7), TN=1 (0.1).
    y = [1, 1, 1, 1, 0, 0]
    p = [0.9, 0.8, 0.6, 0.4, 0.7, 0.1]
    m = binary_metrics(y, p)
    assert (m["tp"], m["fn"], m["fp"], m["tn"], m["n"]) == (3, 1, 1, 1, 6)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["sensitivity"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(1 / 2)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(0.75)
    # NORMAL as positive: precision 1/2, recall 1/2, F1 1/2; macro = (0.75 + 0.5) / 2
    assert m["f1_avg"] == pytest.approx(0.625)
    # AUROC: of 8 (pos, neg) pairs, 0.4 < 0.7 and 0.6 < 0.7 are the 2 misordered ones.
    assert m["auroc"] == pytest.approx(6 / 8)
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.6, 0.4, 0.3, 0.9]))
    assert m["loss"] == pytest.approx(expected_loss)


def test_precision_and_recall_differ_from_accuracy_unlike_the_original():
    m = binary_metrics([1, 1, 1, 0], [0.9, 0.9, 0.9, 0.9])
    assert m["accuracy"] == 0.75 and m["sensitivity"] == 1.0 and m["specificity"] == 0.0
    assert m["fn"] != m["fp"]


def test_threshold_moves_the_call():
    y, p = [1, 0], [0.6, 0.4]
    assert binary_metrics(y, p, 0.5)["accuracy"] == 1.0
    assert binary_metrics(y, p, 0.7)["tp"] == 0


def test_one_class_test_set_gives_nan_auroc_not_an_error():
    m = binary_metrics([1, 1], [0.2, 0.9])
    assert math.isnan(m["auroc"]) and math.isnan(m["specificity"])


def test_fairness_summary():
    per = {
        "h1": {"accuracy": 0.9, "auroc": 0.95, "tp": 90, "fn": 10},
        "h2": {"accuracy": 0.8, "auroc": 0.90, "tp": 70, "fn": 30},
        "h3": {"accuracy": 0.85, "auroc": 0.93, "tp": 80, "fn": 20},
    }
    f = fairness_summary(per)
    assert f["accuracy_spread"] == pytest.approx(0.1)
    assert f["worst_accuracy"] == 0.8 and f["worst_hospital"] == "h2"
    assert f["fnr_gap"] == pytest.approx(0.3 - 0.1)
    assert f["accuracy_std"] == pytest.approx(np.std([0.9, 0.8, 0.85]))
    assert f["auroc_spread"] == pytest.approx(0.05)


def test_nan_probabilities_name_the_hospital():
    with pytest.raises(FedXrayError, match="hospital_2 \\(test set\\) gave NaN .* 1 of 3"):
        binary_metrics([0, 1, 1], [0.1, math.nan, 0.8], scope="hospital_2 (test set)")


def test_undefined_rates_are_nan_not_zero():
    no_positives = binary_metrics([0, 0, 0], [0.1, 0.2, 0.7])
    assert math.isnan(no_positives["sensitivity"]) and math.isnan(no_positives["auroc"])
    no_calls = binary_metrics([0, 1], [0.1, 0.2])
    assert math.isnan(no_calls["precision"]) and no_calls["sensitivity"] == 0.0


def test_auroc_ranks_saturated_scores_unclipped():
    # Clipped to 1 - 1e-7 these three would tie, and AUROC would read 0.5.
    assert binary_metrics([1, 1, 0], [1.0, 1.0, 1 - 1e-9])["auroc"] == 1.0


def test_binary_metrics_equal_scikit_learns_on_scores_with_ties():
    from sklearn import metrics as sk

    # Prepare: rounded scores tie often; the last case has no PNEUMONIA call at all
    rng = np.random.default_rng(3)
    for y, p, t in [
        (rng.integers(0, 2, 200), rng.random(200).round(2), 0.5),
        (rng.integers(0, 2, 50), rng.random(50).round(1), 0.3),
        (np.array([0, 1, 1]), np.array([0.1, 0.2, 0.3]), 0.9),
    ]:
        # Execute
        m = binary_metrics(y, p, t)

        # Assert
        pred = (p >= t).astype(int)
        assert m["auroc"] == pytest.approx(sk.roc_auc_score(y, p))
        assert m["loss"] == pytest.approx(sk.log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))
        assert m["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
        assert m["f1_avg"] == pytest.approx(
            sk.f1_score(y, pred, average="macro", zero_division=np.nan)
        )
        assert m["f1"] == pytest.approx(sk.f1_score(y, pred, zero_division=np.nan))
        np.testing.assert_equal(m["precision"], sk.precision_score(y, pred, zero_division=np.nan))
