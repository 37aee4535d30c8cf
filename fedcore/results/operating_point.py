"""The operating point chosen federatedly: a threshold picked from counts summed over the hospitals.

At 0.5 a model trained under DP, or on skewed hospitals, may call every image one
class while still ranking them well (high AUROC). Each hospital therefore reports its
validation confusion counts at every threshold of a fixed grid (:data:`GRID`): counts
only, as scalars, so Flower carries them too. The server sums
them and picks the threshold with the highest Youden J (sensitivity + specificity - 1),
or the highest threshold whose sensitivity reaches a target. Pure functions.
"""

from __future__ import annotations

import functools
import math
from typing import Iterable

import numpy as np

from fedcore.results.calibration import CALIBRATED_PREFIX, reliability_figures
from fedcore.results.metrics import binary_metrics, count_rates
from fedcore.results.recalibration import mapped_from_counts
from fedcore.results.roc import at_or_above, roc_points

COUNT_PREFIX = "val_count:"
# The same counts on a hospital's own test images: the server reads them at the threshold it
# chose, so each hospital's figures at the operating point come from counts too (a Flower
# hospital evaluates before the server has chosen; counts only leave it).
TEST_COUNT_PREFIX = "test_count:"
# What the operating point changes in a scope's metrics (``op_`` + each), beside the threshold.
AT_POINT = (
    "accuracy",
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
# The grid is in log-odds, not in probability: fedcore.results.metrics' ROC grid (steps of 0.01 at
# best near 0.5) could not tell apart the scores of a model whose outputs all sit within
# 0.49-0.51 (measured: seed 5 after 10 rounds ranks at AUROC 0.93 inside that band), nor
# those of a saturated one (SCAFFOLD on seed 5: every score below 1e-5, AUROC 0.92). Steps
# of 0.002 in log-odds up to +-0.1 (0.0005 in probability: SCAFFOLD on seed 5 now puts every
# test score within 0.482-0.487, its classes' medians 0.001 apart), 0.01 up to +-1, 0.125
# up to +-4 (0.018 to 0.982), then out to +-16 (float32 scores cannot resolve more above
# 0.5) and to -40 below: about 350 thresholds, four counts each.
_LOG_ODDS = tuple(
    np.round(
        np.concatenate(
            [
                np.arange(0, 0.1, 0.002),
                np.arange(0.1, 1, 0.01),
                np.arange(1, 4.001, 0.125),
                [5, 6, 7, 8, 10, 12, 14, 16],
            ]
        ),
        4,
    )
)
GRID = tuple(
    sorted(
        {float(f"{1 / (1 + np.exp(-s * z)):.6g}") for z in _LOG_ODDS for s in (-1, 1)}
        | {float(f"{1 / (1 + np.exp(z)):.6g}") for z in (20.0, 25.0, 30.0, 40.0)}
    )
)


def threshold_counts(y_true, p_pneumonia, thresholds=GRID, prefix: str = COUNT_PREFIX) -> dict:
    """``val_count:tp@t``, ``fp``, ``tn``, ``fn`` for each threshold t: scores at or above t are
    PNEUMONIA.

    ``prefix`` names the split counted (:data:`TEST_COUNT_PREFIX` for a hospital's test images).
    """
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(p_pneumonia, dtype=np.float64).ravel()
    t = np.asarray(thresholds, dtype=np.float64)
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    tp, fp = at_or_above(p[y == 1], t), at_or_above(p[y == 0], t)
    values = np.stack([tp, fp, positives - tp, negatives - fp], axis=1).ravel().tolist()
    return dict(zip(_count_keys(tuple(thresholds), prefix), values))


@functools.lru_cache(maxsize=8)
def _count_keys(thresholds: tuple, prefix: str = COUNT_PREFIX) -> tuple[str, ...]:
    """The count names of a grid, in :func:`threshold_counts`' order (formatted once per grid)."""
    return tuple(f"{prefix}{k}@{t:g}" for t in thresholds for k in ("tp", "fp", "fn", "tn"))


def pooled_counts(
    reports: Iterable[dict], thresholds=GRID, prefix: str = COUNT_PREFIX
) -> dict[float, dict[str, int]]:
    """{threshold: {tp, fp, tn, fn}} summed over the hospitals' :func:`threshold_counts`."""
    reports = list(reports)
    return {
        t: {
            k: int(sum(r.get(f"{prefix}{k}@{t:g}", 0) for r in reports))
            for k in ("tp", "fp", "tn", "fn")
        }
        for t in thresholds
    }


def choose_threshold(
    pooled: dict[float, dict[str, int]], target_sensitivity: float | None = None
) -> dict:
    """The operating point from pooled counts.

    Parameters
    ----------
    pooled : dict
        :func:`pooled_counts`.
    target_sensitivity : float, optional
        When given, the highest threshold whose sensitivity is at least this (the most
        specific one that still finds that share of pneumonia); otherwise the maximum
        Youden J, the lowest threshold among ties.

    Returns
    -------
    dict
        threshold, sensitivity, specificity, youden_j (validation figures; NaN where a class is
        absent).
    """
    rows = []
    for t in sorted(pooled):
        c = pooled[t]
        sens = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else math.nan
        spec = c["tn"] / (c["tn"] + c["fp"]) if c["tn"] + c["fp"] else math.nan
        rows.append((t, sens, spec))
    if target_sensitivity is not None:
        reaching = [r for r in rows if not math.isnan(r[1]) and r[1] >= target_sensitivity]
        t, sens, spec = reaching[-1] if reaching else rows[0]
    else:
        j = [s + p - 1 if not (math.isnan(s) or math.isnan(p)) else -math.inf for _, s, p in rows]
        t, sens, spec = rows[int(np.argmax(j))]
    return {
        "threshold": float(t),
        "sensitivity": sens,
        "specificity": spec,
        "youden_j": sens + spec - 1,
    }


def strip_counts(metrics: dict) -> dict:
    """A hospital's metrics without the threshold counts (they are the server's input, not
    results).
    """
    return {k: v for k, v in metrics.items() if not k.startswith((COUNT_PREFIX, TEST_COUNT_PREFIX))}


def at_operating_point(metrics: dict, operating_point: dict | None) -> dict:
    """A hospital's test metrics with its figures at the chosen threshold added, read from its test
    counts.

    Parameters
    ----------
    metrics : dict
        The hospital's metrics at the fixed threshold and its :data:`TEST_COUNT_PREFIX`
        counts over :data:`GRID` (from which :func:`choose_threshold` picks).
    operating_point : dict or None
        :func:`choose_threshold`'s result.

    Returns
    -------
    dict
        ``metrics`` without any counts, plus ``op_threshold`` and ``op_accuracy``,
        ``op_sensitivity``, … (as :func:`scored` gives the global model) when the counts
        at that threshold are there; otherwise only without the counts. With the server's
        calibration map (``operating_point["calibration"]``) and the test counts, also
        ``ece_calibrated`` and the mapped reliability bins.
    """
    plain = strip_counts(metrics)
    if operating_point is None:
        return plain
    mapping = operating_point.get("calibration")
    if mapping is not None and f"{TEST_COUNT_PREFIX}tp@{GRID[0]:g}" in metrics:
        mapped = mapped_from_counts(pooled_counts([metrics], prefix=TEST_COUNT_PREFIX), mapping)
        plain |= {"ece_calibrated": mapped.ece()} | mapped.to_metrics(CALIBRATED_PREFIX)
    t = operating_point["threshold"]
    keys = {k: f"{TEST_COUNT_PREFIX}{k}@{t:g}" for k in ("tp", "fp", "tn", "fn")}
    if not all(key in metrics for key in keys.values()):
        return plain
    rates = count_rates(**{k: metrics[key] for k, key in keys.items()})
    return plain | {"op_threshold": t} | {f"op_{k}": rates[k] for k in AT_POINT}


def at_chosen_threshold(metrics: dict) -> dict:
    """A scope's metrics as they read at the federated operating point: accuracy, sensitivity, …
    and the four counts replaced by their ``op_`` figures (AUROC and loss do not depend on a
    threshold); unchanged for a scope without them (a run before operating points, local mode)."""
    if "op_threshold" not in metrics or any(f"op_{k}" not in metrics for k in AT_POINT):
        return metrics
    return metrics | {k: metrics[f"op_{k}"] for k in AT_POINT}


def scored(
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    operating_point: dict | None,
    scope: str,
) -> dict:
    """:func:`binary_metrics` at ``threshold`` and the ROC points; with an operating point, its
    threshold and the metrics there as ``op_threshold``, ``op_accuracy``, ``op_sensitivity``, …;
    the reliability bins and ``ece`` (fedcore.results.calibration)."""
    metrics = (
        binary_metrics(labels, scores, threshold, scope)
        | roc_points(labels, scores)
        | reliability_figures(labels, scores)
    )
    if operating_point is None:
        return metrics
    at_op = binary_metrics(labels, scores, operating_point["threshold"], scope)
    return (
        metrics
        | {"op_threshold": operating_point["threshold"]}
        | {f"op_{k}": at_op[k] for k in AT_POINT}
    )
