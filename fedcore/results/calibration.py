"""Calibration from counts: reliability bins, expected calibration error, and a Platt map fitted
federatedly.

A hospital reports, per equal-width bin of P(pneumonia), how many images fell in it, how many had
pneumonia and the sum of their predicted probabilities: counts and sums only, as scalars, so
Flower carries them too. The expected calibration error (ECE, Guo et al. 2017) and the
reliability diagram are read from those sums. The map the server fits
(fedcore.results.recalibration), sigmoid(a * logit + b) with a > 0, is monotone, so it changes
no ranking. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

BINS = 15
# A scope's reliability bins in its metrics, as scalars: "calib:n@3", "calib:pos@3", "calib:psum@3";
# the global model's bins after the map under CALIBRATED_PREFIX.
BIN_PREFIX = "calib:"
CALIBRATED_PREFIX = "calib_mapped:"
_FIELDS = ("n", "pos", "psum")
# Scores are float32: keep logits finite at 0 and 1.
_EPS = 1e-7


def logit(p) -> np.ndarray:
    """log(p / (1 - p)), with p clipped to [1e-7, 1 - 1e-7]."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class Reliability:
    """Per bin of P(pneumonia): images, images with pneumonia, and the sum of their scores."""

    count: np.ndarray
    positives: np.ndarray
    prob_sum: np.ndarray

    @classmethod
    def from_scores(cls, labels, scores, bins: int = BINS) -> Reliability:
        """The bins of literal scores: bin k holds scores in [k / bins, (k + 1) / bins), 1.0 in
        the last."""
        y = np.asarray(labels).astype(int).ravel()
        p = np.asarray(scores, dtype=np.float64).ravel()
        k = np.minimum((p * bins).astype(int), bins - 1)
        return cls(
            np.bincount(k, minlength=bins),
            np.bincount(k, weights=y, minlength=bins).astype(int),
            np.bincount(k, weights=p, minlength=bins),
        )

    @classmethod
    def from_metrics(cls, metrics: dict, prefix: str = BIN_PREFIX) -> Reliability | None:
        """The bins stored in a scope's metrics by :meth:`to_metrics`; None when absent."""
        if f"{prefix}n@0" not in metrics:
            return None
        bins = sum(1 for k in metrics if k.startswith(f"{prefix}n@"))
        column = [[metrics[f"{prefix}{f}@{k}"] for k in range(bins)] for f in _FIELDS]
        return cls(
            np.asarray(column[0], int), np.asarray(column[1], int), np.asarray(column[2], float)
        )

    def to_metrics(self, prefix: str = BIN_PREFIX) -> dict:
        """The bins as scalar metrics (what a hospital sends)."""
        out = {}
        for field, values in zip(_FIELDS, (self.count, self.positives, self.prob_sum)):
            out |= {f"{prefix}{field}@{k}": v.item() for k, v in enumerate(values)}
        return out

    def __add__(self, other: Reliability) -> Reliability:
        return Reliability(
            self.count + other.count,
            self.positives + other.positives,
            self.prob_sum + other.prob_sum,
        )

    @property
    def edges(self) -> np.ndarray:
        """The bins' edges in P(pneumonia)."""
        return np.linspace(0.0, 1.0, len(self.count) + 1)

    def ece(self) -> float:
        """Expected calibration error: the image-weighted mean gap between the mean predicted
        probability and the observed pneumonia rate of each bin; NaN without images."""
        total = self.count.sum()
        if not total:
            return float("nan")
        return float(np.abs(self.prob_sum - self.positives).sum() / total)

    def rows(self) -> list[dict]:
        """One row per non-empty bin: its range, images, mean predicted and observed rate."""
        e = self.edges
        return [
            {
                "low": float(e[k]),
                "high": float(e[k + 1]),
                "images": int(n),
                "pneumonia": int(self.positives[k]),
                "predicted": float(self.prob_sum[k] / n),
                "observed": float(self.positives[k] / n),
            }
            for k, n in enumerate(self.count)
            if n
        ]


@dataclass(frozen=True)
class PlattMap:
    """calibrated P = sigmoid(a * logit(P) + b); a > 0 keeps every ranking."""

    a: float
    b: float

    def __call__(self, p) -> np.ndarray:
        return expit(self.a * logit(p) + self.b)

    def to_metrics(self) -> dict:
        """``calibration_a`` and ``calibration_b``: how a round records its map."""
        return {"calibration_a": self.a, "calibration_b": self.b}

    @classmethod
    def from_metrics(cls, metrics: dict) -> PlattMap | None:
        """The map a round recorded; None for a round without one."""
        a, b = metrics.get("calibration_a"), metrics.get("calibration_b")
        if a is None or b is None or not np.isfinite(a) or not np.isfinite(b):
            return None
        return cls(float(a), float(b))


def calibration_figures(labels, scores, mapping: PlattMap | None) -> dict:
    """The global model's calibration after the map: the map, ``ece_calibrated`` and the mapped
    bins; empty without a map."""
    if mapping is None:
        return {}
    mapped = Reliability.from_scores(labels, mapping(scores))
    return (
        mapping.to_metrics()
        | {"ece_calibrated": mapped.ece()}
        | mapped.to_metrics(CALIBRATED_PREFIX)
    )


def reliability_figures(labels, scores) -> dict:
    """A scope's uncalibrated reliability bins and ``ece``."""
    bins = Reliability.from_scores(labels, scores)
    return {"ece": bins.ece()} | bins.to_metrics()
