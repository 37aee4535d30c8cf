"""Binary diagnostic metrics with PNEUMONIA as the positive class, and fairness summaries.

Pure functions over numpy arrays. The original design averaged metrics over both
one-hot classes, which made precision = recall = accuracy and FN = FP; here every
figure is the binary one a clinician reads.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

from fedcore.errors import FedXrayError

# Order in which tables and charts show them.
METRIC_NAMES = (
    "loss", "accuracy", "auroc", "sensitivity", "specificity", "precision", "f1", "f1_avg",
    "tp", "fp", "tn", "fn", "n",
)
COUNT_NAMES = ("tp", "fp", "tn", "fn", "n")


def binary_metrics(y_true, p_pneumonia, threshold: float = 0.5, scope: str = "the model") -> dict:
    """Metrics of P(pneumonia) scores against 0/1 labels.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        1 = PNEUMONIA, 0 = NORMAL.
    p_pneumonia : array-like of float, shape (n,)
        Predicted probability of PNEUMONIA.
    threshold : float, default 0.5
        Scores at or above it are called PNEUMONIA.
    scope : str, default 'the model'
        Whose scores these are (a hospital, the global test set), named in errors.

    Returns
    -------
    dict
        loss (cross-entropy, nats), accuracy, auroc, sensitivity (= recall),
        specificity, precision, f1 (PNEUMONIA), f1_avg (macro F1 over the classes for
        which it is defined), tp, fp, tn, fn, n. A rate whose denominator is zero is
        undefined and NaN, never 0: AUROC without both classes, sensitivity without
        positives, specificity without negatives, precision without a PNEUMONIA call.

    Raises
    ------
    FedXrayError
        When a score is NaN or infinite (a diverged model): naming ``scope``.
    """
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(p_pneumonia, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and scores {p.shape} differ in shape")
    if y.size == 0:
        raise ValueError("no examples to score")
    bad = int((~np.isfinite(p)).sum())
    if bad:
        raise FedXrayError(f"{scope} gave NaN or infinite P(pneumonia) for {bad} of {p.size} images: the model's "
                           "weights diverged; lower the learning rate (or the DP noise) and train again")
    called = p >= threshold
    positive = y == 1
    tp, fp = int(np.count_nonzero(called & positive)), int(np.count_nonzero(called & ~positive))
    fn, tn = int(np.count_nonzero(positive)) - tp, int(np.count_nonzero(~positive)) - fp
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    # Formulas on the four counts rather than scikit-learn's metric functions: same figures
    # (tests/test_metrics.py), and 0.2 ms instead of about 20 ms of input validation per call,
    # which every hospital paid every round (issue 12).
    rates = count_rates(tp, fp, tn, fn)
    return {
        # Only the loss needs clipped scores (log 0); AUROC ranks the raw ones, so that
        # saturated scores (1.0 and 0.9999999) do not become ties.
        "loss": float(-np.mean(np.where(positive, np.log(clipped), np.log1p(-clipped)))),
        "accuracy": rates["accuracy"],
        "auroc": _auroc(positive, p),
        **{k: rates[k] for k in ("sensitivity", "specificity", "precision", "f1", "f1_avg", "tp", "fp", "tn", "fn")},
        "n": int(y.size),
    }


def count_rates(tp: int, fp: int, tn: int, fn: int) -> dict:
    """Accuracy, sensitivity, specificity, precision, F1 (PNEUMONIA), macro F1 and the four counts, from the counts.

    What :func:`binary_metrics` reports at its threshold, and what a hospital's confusion
    counts at the federated operating point give (fedcore.operating_point): one set of
    formulas, so the figures agree to the last digit. Undefined rates are NaN.
    """
    tp, fp, tn, fn = int(tp), int(fp), int(tn), int(fn)
    f1 = _rate(2 * tp, 2 * tp + fp + fn)
    return {
        "accuracy": _rate(tp + tn, tp + fp + tn + fn),
        "sensitivity": _rate(tp, tp + fn),
        "specificity": _rate(tn, tn + fp),
        "precision": _rate(tp, tp + fp),
        "f1": f1,
        # Macro F1 over the classes for which it is defined (NORMAL's: 2 tn / (2 tn + fn + fp)).
        "f1_avg": float(np.nanmean([f1, _rate(2 * tn, 2 * tn + fn + fp)])),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }


def _rate(numerator: int, denominator: int) -> float:
    """numerator / denominator, NaN (undefined, never 0) when the denominator is zero."""
    return numerator / denominator if denominator else math.nan


def _auroc(positive: np.ndarray, p: np.ndarray) -> float:
    """The area under the ROC curve as the Mann-Whitney statistic: the share of (PNEUMONIA, NORMAL) pairs
    ranked right, ties counting half (what ``roc_auc_score`` gives); NaN without both classes."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.size - n_pos
    if not n_pos or not n_neg:
        return math.nan
    ranks = rankdata(p)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fairness_summary(per_hospital: dict[str, dict]) -> dict:
    """How evenly the global model serves the hospitals.

    Parameters
    ----------
    per_hospital : dict of str to dict
        Each hospital's :func:`binary_metrics` on its own test set.

    Returns
    -------
    dict
        accuracy_spread (max - min), worst_accuracy, worst_hospital, accuracy_std
        (population std), fnr_gap (max - min false-negative rate, FN / (TP + FN)),
        auroc_spread. NaN where a hospital lacks the needed class.
    """
    if not per_hospital:
        raise ValueError("no hospitals to compare")
    names = list(per_hospital)
    acc = np.array([per_hospital[h]["accuracy"] for h in names])
    fnr = np.array([_false_negative_rate(per_hospital[h]) for h in names])
    auroc = np.array([per_hospital[h]["auroc"] for h in names], dtype=float)
    worst = int(np.argmin(acc))
    return {
        "accuracy_spread": float(acc.max() - acc.min()),
        "worst_accuracy": float(acc[worst]),
        "worst_hospital": names[worst],
        "accuracy_std": float(acc.std()),
        "fnr_gap": float(np.nanmax(fnr) - np.nanmin(fnr)) if np.isfinite(fnr).any() else math.nan,
        "auroc_spread": float(np.nanmax(auroc) - np.nanmin(auroc)) if np.isfinite(auroc).any() else math.nan,
    }


def _false_negative_rate(m: dict) -> float:
    positives = m["tp"] + m["fn"]
    return m["fn"] / positives if positives else math.nan


# Thresholds at which the ROC curve is kept with each scope's metrics every round: finer
# near 0 and 1, where a trained model's scores pile up, and near 0.5, where a model trained
# under DP puts them (its outputs are compressed around 0.5). Each point travels as two
# scalar metrics ("roc_fpr@0.05", "roc_tpr@0.05") because Flower carries only scalars.
ROC_THRESHOLDS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.43, 0.46,
                  0.48, 0.49, 0.5, 0.51, 0.52, 0.54, 0.57, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98,
                  0.99, 0.995, 0.999, 1.0)
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
    """How many of ``scores`` are at or above each threshold, for all thresholds at once (sorted once)."""
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
