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
    "loss",
    "accuracy",
    "auroc",
    "sensitivity",
    "specificity",
    "precision",
    "f1",
    "f1_avg",
    "tp",
    "fp",
    "tn",
    "fn",
    "n",
)


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
        raise FedXrayError(
            f"{scope} gave NaN or infinite P(pneumonia) for {bad} of {p.size} images: the model's "
            "weights diverged; lower the learning rate (or the DP noise) and train again"
        )
    called = p >= threshold
    positive = y == 1
    tp, fp = int(np.count_nonzero(called & positive)), int(np.count_nonzero(called & ~positive))
    fn, tn = int(np.count_nonzero(positive)) - tp, int(np.count_nonzero(~positive)) - fp
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    # Formulas on the four counts rather than scikit-learn's metric functions: the same figures
    # (tests/results/test_metrics.py) without 20 ms of input validation per call.
    rates = count_rates(tp, fp, tn, fn)
    return {
        # Only the loss needs clipped scores (log 0); AUROC ranks the raw ones, so that
        # saturated scores (1.0 and 0.9999999) do not become ties.
        "loss": float(-np.mean(np.where(positive, np.log(clipped), np.log1p(-clipped)))),
        "accuracy": rates["accuracy"],
        "auroc": _auroc(positive, p),
        **{
            k: rates[k]
            for k in (
                "sensitivity",
                "specificity",
                "precision",
                "f1",
                "f1_avg",
                "tp",
                "fp",
                "tn",
                "fn",
            )
        },
        "n": int(y.size),
    }


def count_rates(tp: int, fp: int, tn: int, fn: int) -> dict:
    """Accuracy, sensitivity, specificity, precision, F1 (PNEUMONIA), macro F1 and the four counts,
    from the counts.

    What :func:`binary_metrics` reports at its threshold, and what a hospital's confusion
    counts at the federated operating point give (fedcore.results.operating_point): one set of
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
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def _rate(numerator: int, denominator: int) -> float:
    """numerator / denominator, NaN (undefined, never 0) when the denominator is zero."""
    return numerator / denominator if denominator else math.nan


def _auroc(positive: np.ndarray, p: np.ndarray) -> float:
    """The area under the ROC curve as the Mann-Whitney statistic: the share of (PNEUMONIA, NORMAL)
    pairs
    ranked right, ties counting half (what ``roc_auc_score`` gives); NaN without both classes."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.size - n_pos
    if not n_pos or not n_neg:
        return math.nan
    ranks = rankdata(p)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
