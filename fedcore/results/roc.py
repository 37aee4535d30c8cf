"""ROC curves from a fixed threshold grid: the points a hospital reports, and the curve back."""

from __future__ import annotations

import math

import numpy as np

# Thresholds at which the ROC curve is kept with each scope's metrics every round: finer
# near 0 and 1, where a trained model's scores pile up, and near 0.5, where a model trained
# under DP puts them (its outputs are compressed around 0.5). Each point travels as two
# scalar metrics ("roc_fpr@0.05", "roc_tpr@0.05") because Flower carries only scalars.
ROC_THRESHOLDS = (
    0.0,
    0.001,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.35,
    0.4,
    0.43,
    0.46,
    0.48,
    0.49,
    0.5,
    0.51,
    0.52,
    0.54,
    0.57,
    0.6,
    0.65,
    0.7,
    0.75,
    0.8,
    0.85,
    0.9,
    0.95,
    0.98,
    0.99,
    0.995,
    0.999,
    1.0,
)


ROC_PREFIX = "roc_"


def roc_points(y_true, p_pneumonia, thresholds=ROC_THRESHOLDS) -> dict:
    """The ROC curve on a fixed grid of thresholds, as scalar metrics.

    A fixed grid (rather than scikit-learn's one point per distinct score) keeps the
    curve the same small size for every scope and round, whatever the test set's size.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        1 = PNEUMONIA, 0 = NORMAL.
    p_pneumonia : array-like of float, shape (n,)
    thresholds : sequence of float
        Scores at or above a threshold are called PNEUMONIA, as in :func:`binary_metrics`.

    Returns
    -------
    dict
        ``roc_fpr@t`` and ``roc_tpr@t`` for each threshold t (NaN where the class is absent).
    """
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(p_pneumonia, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and scores {p.shape} differ in shape")
    t = np.asarray(thresholds, dtype=np.float64)
    called_positive, called_negative = at_or_above(p[y == 1], t), at_or_above(p[y == 0], t)
    tpr = called_positive / (y == 1).sum() if (y == 1).any() else np.full(len(t), math.nan)
    fpr = called_negative / (y == 0).sum() if (y == 0).any() else np.full(len(t), math.nan)
    points = {}
    for threshold, f, r in zip(thresholds, fpr.tolist(), tpr.tolist()):
        points[f"{ROC_PREFIX}fpr@{threshold:g}"] = f
        points[f"{ROC_PREFIX}tpr@{threshold:g}"] = r
    return points


def at_or_above(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of ``scores`` are at or above each threshold, for all thresholds at once (sorted
    once)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    return len(ordered) - np.searchsorted(ordered, thresholds, side="left")


def roc_curve_of(metrics: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read back the curve :func:`roc_points` stored in one scope's metrics.

    Returns
    -------
    (thresholds, fpr, tpr) : three float arrays, ordered by threshold; empty when the
    metrics hold no curve (runs recorded before curves were kept).
    """
    found = sorted(float(k.split("@", 1)[1]) for k in metrics if k.startswith(f"{ROC_PREFIX}fpr@"))
    fpr = [metrics[f"{ROC_PREFIX}fpr@{t:g}"] for t in found]
    tpr = [metrics.get(f"{ROC_PREFIX}tpr@{t:g}", math.nan) for t in found]
    return np.array(found), np.array(fpr, dtype=float), np.array(tpr, dtype=float)
