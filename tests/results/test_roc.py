"""ROC points on a fixed threshold grid, stored as scalar metrics with each scope."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from fedcore.results.metrics import binary_metrics
from fedcore.results.report import metrics_frame, table1
from fedcore.results.roc import ROC_THRESHOLDS, roc_curve_of, roc_points


def test_roc_points_match_scikit_learn_at_every_grid_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    thresholds, fpr, tpr = roc_curve_of(roc_points(y, p))
    np.testing.assert_allclose(thresholds, ROC_THRESHOLDS)
    sk_fpr, sk_tpr, _ = roc_curve(y, p, drop_intermediate=False)
    # Every grid point is one of scikit-learn's (one per distinct score), the same decision rule.
    for f, r in zip(fpr, tpr):
        assert np.any(np.isclose(sk_fpr, f) & np.isclose(sk_tpr, r)), (f, r)
    # The curve runs from (1, 1) at threshold 0 down to (0, 0) above every score.
    assert (fpr[0], tpr[0]) == (1.0, 1.0) and fpr[-1] == tpr[-1] == 0.0
    assert np.all(np.diff(fpr) <= 0) and np.all(np.diff(tpr) <= 0)


def test_the_operating_point_of_binary_metrics_lies_on_the_curve_at_its_threshold():
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.3, 0.55, 0.9, 0.2, 0.7])
    m = binary_metrics(y, p, 0.5)
    points = roc_points(y, p)
    assert points["roc_fpr@0.5"] == pytest.approx(1 - m["specificity"]) == 1 / 3
    assert points["roc_tpr@0.5"] == m["sensitivity"] == 3 / 4


def test_a_missing_class_gives_nan_rates_and_old_metrics_give_an_empty_curve():
    points = roc_points([1, 1], [0.2, 0.8])
    assert math.isnan(points["roc_fpr@0.5"]) and points["roc_tpr@0.5"] == 0.5
    thresholds, fpr, tpr = roc_curve_of({"accuracy": 0.9})
    assert thresholds.size == fpr.size == tpr.size == 0


def test_report_tables_leave_the_roc_points_out():
    y, p = np.array([0, 1, 1, 0]), np.array([0.2, 0.7, 0.4, 0.1])
    metrics = binary_metrics(y, p) | roc_points(y, p)
    snapshot = {
        "run": {"id": "r", "mode": "federated", "rounds_done": 1, "best_round": 1, "config": {}},
        "metrics": [{"round": 1, "scope": "global", **metrics, "note": [1, 2]}],
    }
    frame = metrics_frame(snapshot)
    assert not [c for c in frame.columns if c.startswith("roc_")] and "note" not in frame.columns
    assert (
        isinstance(table1(snapshot), pd.DataFrame)
        and table1(snapshot).loc["Global model", "Accuracy"] == 0.75
    )
