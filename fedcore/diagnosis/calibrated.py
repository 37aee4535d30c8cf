"""One score after the calibration map the server recorded with the model's round."""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def calibrated_probability(probability: float, metrics: dict) -> float | None:
    """P(pneumonia) after the round's map, sigmoid(a * logit(P) + b).

    Parameters
    ----------
    probability : float
        The model's own P(pneumonia).
    metrics : dict
        The global model's metrics of the checkpoint's round (``calibration_a``,
        ``calibration_b``), as ``LoadedModel.test_metrics`` holds them.

    Returns
    -------
    float or None
        As fedcore.results.calibration.PlattMap applies it (this layer does not import results;
        a test holds the two equal); None for a round without a map (the shipped model, older
        runs).
    """
    a, b = metrics.get("calibration_a"), metrics.get("calibration_b")
    if a is None or b is None or not np.isfinite(a + b):
        return None
    p = min(max(float(probability), 1e-7), 1 - 1e-7)
    return float(expit(a * (np.log(p) - np.log1p(-p)) + b))
