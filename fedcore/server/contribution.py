"""Who helped: each hospital's leave-one-out contribution to a round's global model.

Hospital k's contribution in a round is the global model's validation AUROC with the round's
aggregate of every update, minus the AUROC of the aggregate the same strategy makes without
k's update ("without hospital_2 this round, the validation AUROC would have been 0.03
lower": +0.03). The AUROC is read from the validation confusion counts the hospitals report
over the threshold grid, pooled as for the operating point: no validation image or label
leaves a hospital. Exact, at K extra aggregates and K extra validation passes a round,
so it is computed up to :data:`MAX_HOSPITALS` hospitals. Leave-one-out misses what two
hospitals add only together (Shapley values would not, at 2^K aggregates).
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np

from fedcore.results.operating_point import pooled_counts
from fedcore.strategies import Strategy

# Past this many hospitals a round's leave-one-out costs too many aggregates and passes.
MAX_HOSPITALS = 10

ValidationCounts = Callable[[list[np.ndarray]], list[dict]]


def auroc_from_counts(pooled: dict[float, dict[str, int]]) -> float:
    """AUROC by the trapezoid rule over the ROC points of pooled grid counts.

    Parameters
    ----------
    pooled : dict
        {threshold: {tp, fp, tn, fn}} (fedcore.results.operating_point.pooled_counts).

    Returns
    -------
    float
        The area under the points, with (0, 0) and (1, 1) added; NaN when a class is absent.
    """
    rows = [pooled[t] for t in sorted(pooled)]
    positives = rows[0]["tp"] + rows[0]["fn"] if rows else 0
    negatives = rows[0]["fp"] + rows[0]["tn"] if rows else 0
    if not positives or not negatives:
        return float("nan")
    tpr = np.array([1.0] + [r["tp"] / positives for r in rows] + [0.0])
    fpr = np.array([1.0] + [r["fp"] / negatives for r in rows] + [0.0])
    # Thresholds rise, so both rates fall: integrate from the (1, 1) end to (0, 0).
    return float(-np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def validation_auroc(weights: list[np.ndarray], counts_of: ValidationCounts) -> float:
    """The AUROC of ``weights`` on every hospital's validation images, from their counts."""
    return auroc_from_counts(pooled_counts(counts_of(weights)))


def leave_one_out(
    strategy: Strategy,
    server_round: int,
    results: Sequence[tuple[list[np.ndarray], int]],
    global_weights: list[np.ndarray],
    aggregate: list[np.ndarray],
    counts_of: ValidationCounts,
) -> tuple[float, list[float]]:
    """(the round's validation AUROC, each hospital's contribution to it).

    Parameters
    ----------
    strategy : Strategy
        The strategy as it was before this round's aggregation: each leave-one-out aggregate
        is made by a copy of it, so its state (moments, control variates) is left untouched.
    server_round : int
    results : sequence of (weights, num_examples)
        The round's results, in the order of the contributions returned.
    global_weights : list of np.ndarray
        The weights the round started from.
    aggregate : list of np.ndarray
        The round's actual aggregate (every update in).
    counts_of : callable
        Weights -> each hospital's validation counts (fedcore.results.operating_point
        .threshold_counts): the hospitals evaluate, only counts come back.

    Returns
    -------
    (float, list of float)
        The AUROC with everyone, and per result the AUROC with everyone minus the AUROC
        without it (positive: the hospital helped). No contributions past
        :data:`MAX_HOSPITALS` results or with a single one.
    """
    full = validation_auroc(aggregate, counts_of)
    if len(results) < 2 or len(results) > MAX_HOSPITALS:
        return full, []
    contributions = []
    for k in range(len(results)):
        others = [r for i, r in enumerate(results) if i != k]
        without = copy.deepcopy(strategy).aggregate_fit(server_round, others, global_weights)
        contributions.append(full - validation_auroc(without, counts_of))
    return full, contributions


def contribution_sentence(name: str, contribution: float, rounds: int | None = None) -> str:
    """A contribution in plain words: one round's (``rounds`` None), or a sum over ``rounds``."""
    if rounds is not None:
        verb = "added" if contribution >= 0 else "took"
        preposition = "to" if contribution >= 0 else "from"
        return (
            f"over {rounds} round(s), {name}'s updates {verb} {abs(contribution):.3f} "
            f"{preposition} the global model's validation AUROC in total (each round against "
            "the same round without them)"
        )
    if abs(contribution) < 0.0005:
        return (
            f"without {name} this round, the global model's validation AUROC would have been "
            "the same"
        )
    direction = "lower" if contribution > 0 else "higher"
    return (
        f"without {name} this round, the global model's validation AUROC would have been "
        f"{abs(contribution):.3f} {direction}"
    )
