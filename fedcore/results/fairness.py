"""Fairness across hospitals: one summary of how far apart their figures are."""

from __future__ import annotations

import math

import numpy as np


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
        "auroc_spread": float(np.nanmax(auroc) - np.nanmin(auroc))
        if np.isfinite(auroc).any()
        else math.nan,
    }


def _false_negative_rate(m: dict) -> float:
    positives = m["tp"] + m["fn"]
    return m["fn"] / positives if positives else math.nan
