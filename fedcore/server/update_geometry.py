"""Every hospital update's geometry in one round, and the updates that stand out.

For each update u_k = w_k - w_global: its norm, its cosine to the round's aggregate update
and to the coordinate-wise median of the *other* hospitals' updates. An update is flagged
when it stands out from the round's hospitals by a robust rule: its norm lies more than
:data:`Z_LIMIT` scaled MADs above the round's median, or its cosine to the others more than
:data:`Z_LIMIT` below theirs (robust z-scores: one attacker cannot drag the median and the
MAD as it drags a mean and a standard deviation), and the difference is large in plain terms
too (:data:`NORM_RATIO` times the median norm; a cosine below :data:`COSINE_CEILING`). A
claimed image count far above the others' (:data:`COUNT_RATIO`) is flagged the same way.
Honest hospitals on a label-skewed split differ from each other; the plain-terms floor keeps
those differences from being called attacks. Pure numpy.
"""

from __future__ import annotations

import numpy as np

# Robust z-score beyond which a value is an outlier (Iglewicz and Hoaglin, 1993: 3.5).
Z_LIMIT = 3.5
# An update this many times the round's median norm is out of scale. Only large ones are
# flagged: a small update (few images, few steps) cannot move the average far.
NORM_RATIO = 5.0
# A claimed training-image count this many times the round's median is out of scale: FedAvg
# weighs updates by these counts, so an inflated one buys weight. Honest Dirichlet(0.5) splits
# of 10 hospitals reach 8.4x (seeds 0-9: the largest hospital against the median).
COUNT_RATIO = 10.0
# An update whose cosine to the others' median lies below this points away from them.
COSINE_CEILING = 0.0
# An update below this share of the median norm is not flagged for its direction: it is too
# small to pull the average (measured: a hospital with 544 images sent updates of 0.01-0.12
# against a median of 0.2-1.2 that pointed away from the others in 3 of 10 rounds).
SMALL_NORM = 0.5
# The MAD never counts as less than this share of the median's size (or of 1 for cosines):
# a few honest updates of nearly equal norm must not make a small difference an outlier.
MAD_FLOOR = 0.1
# Fewer updates than this and there is no "the others" to stand out from.
MIN_HOSPITALS = 3


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b); 0 when either is the zero vector."""
    # Elementwise sums, not BLAS: a threaded dot product beside TensorFlow's threads on a busy
    # 2-core machine took 0.1 s a call.
    denominator = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b)) / denominator if denominator > 0 else 0.0


def robust_z(values: np.ndarray, scale_floor: float) -> np.ndarray:
    """(x - median) / (1.4826 MAD) over ``values``, the MAD floored at ``scale_floor``."""
    median = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - median))
    return (values - median) / max(mad, scale_floor, 1e-12)


def medians_of_others(updates: np.ndarray) -> np.ndarray:
    """Row k: the coordinate-wise median of every update but k's.

    Removing one value from a column shifts the order statistics above it down by one, so each
    leave-one-out median is one of the column's two or three middle order statistics, found by
    one partition: O(K P), not K medians of K - 1 rows.
    """
    n = len(updates)
    if n < 2:
        return updates.copy()
    middle = (n - 1) // 2
    wanted = sorted({max(middle - 1, 0), middle, min(middle + 1, n - 1)})
    ordered = np.partition(updates, wanted, axis=0)

    def remaining(i: int, value: np.ndarray) -> np.ndarray:
        # The i-th smallest once ``value`` is removed: a copy of it lies at or below i unless
        # it exceeds the i-th smallest.
        return np.where(value > ordered[i], ordered[i], ordered[min(i + 1, n - 1)])

    out = np.empty_like(updates)
    for k in range(n):
        if (n - 1) % 2:
            out[k] = remaining(middle, updates[k])
        else:
            out[k] = (remaining(middle - 1, updates[k]) + remaining(middle, updates[k])) / 2
    return out


def geometry(
    updates: np.ndarray, aggregate: np.ndarray, counts: np.ndarray | None = None
) -> list[dict]:
    """Each update's norm and cosines, and whether (and why) it is flagged.

    Parameters
    ----------
    updates : np.ndarray, shape (hospitals, parameters)
        The round's updates w_k - w_global, flattened.
    aggregate : np.ndarray, shape (parameters,)
        The round's aggregate update (next global weights minus this round's).
    counts : np.ndarray, optional
        The training-image count each hospital reported (its FedAvg weight).

    Returns
    -------
    list of dict
        Per update, in order: ``update_norm``, ``cos_aggregate``, ``cos_median`` (to the
        coordinate-wise median of the other updates), ``flagged`` (0 or 1) and
        ``flag_reason`` (words, empty when not flagged).
    """
    n = len(updates)
    norms = np.sqrt(np.sum(updates * updates, axis=1))
    others = medians_of_others(updates)
    to_others = np.array([cosine(updates[k], others[k]) if n > 1 else 1.0 for k in range(n)])
    reasons = flag_reasons(norms, to_others, counts)
    return [
        {
            "update_norm": float(norms[k]),
            "cos_aggregate": cosine(updates[k], aggregate),
            "cos_median": float(to_others[k]),
            "flagged": int(bool(reasons[k])),
            "flag_reason": reasons[k],
        }
        for k in range(n)
    ]


def flag_reasons(
    norms: np.ndarray, cosines: np.ndarray, counts: np.ndarray | None = None
) -> list[str]:
    """Why each update is an outlier among the round's, in words; '' for one that is not.

    Parameters
    ----------
    norms : np.ndarray
        Each update's norm.
    cosines : np.ndarray
        Each update's cosine to the median of the others.
    counts : np.ndarray, optional
        Each hospital's claimed training-image count.
    """
    if len(norms) < MIN_HOSPITALS:
        return [""] * len(norms)
    median_norm = float(np.median(norms))
    ratio = norms / median_norm if median_norm > 0 else np.ones_like(norms)
    norm_z = robust_z(norms, MAD_FLOOR * median_norm)
    cos_z = robust_z(cosines, MAD_FLOOR)
    counts = np.ones_like(norms) if counts is None else np.asarray(counts, np.float64)
    median_count = float(np.median(counts))
    count_ratio = counts / median_count if median_count > 0 else np.ones_like(counts)
    count_z = robust_z(counts, MAD_FLOOR * median_count)
    reasons = []
    for k in range(len(norms)):
        why = []
        if norm_z[k] > Z_LIMIT and ratio[k] >= NORM_RATIO:
            why.append(f"update {ratio[k]:.1f}x the median norm")
        if count_z[k] > Z_LIMIT and count_ratio[k] >= COUNT_RATIO:
            why.append(f"claims {counts[k]:.0f} images, {count_ratio[k]:.1f}x the median")
        if cos_z[k] < -Z_LIMIT and cosines[k] < COSINE_CEILING and ratio[k] >= SMALL_NORM:
            why.append(f"points away from the others: cosine {cosines[k]:.2f}")
        reasons.append("; ".join(why))
    return reasons


def short_reason(reason: str) -> str:
    """A flag's reason in a few words, for a chart legend: '9.8x norm' or 'cosine -0.94'."""
    parts = []
    for part in reason.split("; "):
        if part.startswith("update "):
            parts.append(part.split(" ")[1] + " norm")
        elif part.startswith("claims "):
            parts.append(part.rsplit(" ", 3)[-3] + " images")
        elif "cosine" in part:
            parts.append("cosine " + part.rsplit(" ", 1)[-1])
    return ", ".join(parts)


# How each rule's words in a flag's reason begin, and the rule in a word or two.
RULES = {"update ": "norm", "claims ": "image count", "points away": "direction"}


def reason_rules(reason: str) -> list[str]:
    """Which rules a flag's reason names, in plain words (:data:`RULES`' order)."""
    parts = reason.split("; ")
    return [word for start, word in RULES.items() if any(p.startswith(start) for p in parts)]
