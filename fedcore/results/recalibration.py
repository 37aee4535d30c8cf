"""Federated recalibration: the server fits temperature scaling on the logit (Guo et al. 2017)
from the hospitals' pooled validation counts over the operating point's threshold grid
(fedcore.results.operating_point), and moves it to the prevalence of the population it is read
at. The images between two neighbouring thresholds stand at the midpoint of their logits, so no
score leaves a hospital. Pure functions.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit

from fedcore.results.calibration import BINS, PlattMap, Reliability, logit


def fit_temperature(z, positives, negatives) -> float | None:
    """The maximum-likelihood slope a = 1 / T of temperature scaling, sigmoid(a * z).

    Parameters
    ----------
    z : array of float
        Logits (one per image, or one per group of images).
    positives, negatives : array of float
        How many images with and without pneumonia stand at each logit.

    Returns
    -------
    float or None
        None when a class is absent (no slope can be fitted).
    """
    z = np.asarray(z, dtype=np.float64).ravel()
    pos = np.asarray(positives, dtype=np.float64).ravel()
    neg = np.asarray(negatives, dtype=np.float64).ravel()
    if pos.sum() <= 0 or neg.sum() <= 0:
        return None

    def loss(log_a: float) -> float:
        s = np.exp(log_a) * z
        # -log sigmoid(s) = logaddexp(0, -s), stable at any logit.
        return float((pos * np.logaddexp(0, -s) + neg * np.logaddexp(0, s)).sum())

    found = minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded", options={"xatol": 1e-8})
    return float(np.exp(found.x))


def prior_shift(prevalence: float, target: float | None) -> float:
    """logit(target) - logit(prevalence): what moves calibrated probabilities from the
    prevalence they were fitted at to the target population's (Saerens et al. 2002); 0 without
    a target."""
    if target is None or not 0 < target < 1 or not 0 < prevalence < 1:
        return 0.0
    return float(logit(target) - logit(prevalence))


def fit_map(z, positives, negatives, target_prevalence: float | None = None) -> PlattMap | None:
    """Temperature scaling fitted on (z, positives, negatives), moved to ``target_prevalence``.

    One slope rather than Platt's slope and intercept: on the default run the validation images
    (drawn with the training images) and the official test images disagree about the intercept
    (seed 0, round 10: Platt on validation b = +1.3, on the test set b = -0.5), while a slope
    transfers; the prevalence the map is read at is said by ``target_prevalence``.
    """
    a = fit_temperature(z, positives, negatives)
    if a is None:
        return None
    prevalence = float(np.sum(positives) / (np.sum(positives) + np.sum(negatives)))
    return PlattMap(a, prior_shift(prevalence, target_prevalence))


def fit_scores(labels, scores, target_prevalence: float | None = None) -> PlattMap | None:
    """:func:`fit_map` on literal scores (the direct fit the counts' fit is tested against)."""
    y = np.asarray(labels).astype(int).ravel()
    return fit_map(logit(scores), y, 1 - y, target_prevalence)


def grid_groups(pooled: dict[float, dict[str, int]]) -> tuple[np.ndarray, ...]:
    """Pooled threshold counts as groups of images: (logit, positives, negatives) per interval.

    Parameters
    ----------
    pooled : dict
        {threshold: {tp, fp, tn, fn}} (fedcore.results.operating_point.pooled_counts): tp and fp
        count the scores at or above the threshold.

    Returns
    -------
    tuple of arrays
        The images between neighbouring thresholds stand at the midpoint of the thresholds'
        logits; those below the lowest threshold one logit below it, those at or above the
        highest one logit above it.
    """
    t = np.array(sorted(pooled), dtype=np.float64)
    tp = np.array([pooled[x]["tp"] for x in t], dtype=np.float64)
    fp = np.array([pooled[x]["fp"] for x in t], dtype=np.float64)
    z = logit(t)
    positives = np.concatenate([[pooled[t[0]]["fn"]], tp[:-1] - tp[1:], [tp[-1]]])
    negatives = np.concatenate([[pooled[t[0]]["tn"]], fp[:-1] - fp[1:], [fp[-1]]])
    middle = np.concatenate([[z[0] - 1.0], (z[:-1] + z[1:]) / 2, [z[-1] + 1.0]])
    return middle, positives, negatives


def fit_from_counts(
    pooled: dict[float, dict[str, int]], target_prevalence: float | None = None
) -> PlattMap | None:
    """The federated calibration map: :func:`fit_map` on the hospitals' pooled validation counts
    (:func:`grid_groups`)."""
    return fit_map(*grid_groups(pooled), target_prevalence)


def mapped_from_counts(pooled: dict[float, dict[str, int]], mapping: PlattMap) -> Reliability:
    """A hospital's reliability bins after the map, read from its test counts over the threshold
    grid (it evaluates before the server has fitted the map): each interval's images stand at
    the map of its midpoint, so an image may land one bin off and its score moves by at most
    half an interval's width (0.0625 in logit between 0.018 and 0.982)."""
    z, positives, negatives = grid_groups(pooled)
    p = mapping(expit(z))
    k = np.minimum((p * BINS).astype(int), BINS - 1)
    n = positives + negatives
    return Reliability(
        np.bincount(k, weights=n, minlength=BINS).astype(int),
        np.bincount(k, weights=positives, minlength=BINS).astype(int),
        np.bincount(k, weights=n * p, minlength=BINS),
    )
