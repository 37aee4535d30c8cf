"""Which run the pages show when the user has picked none: the best finished run that learned."""

from __future__ import annotations

import math
from typing import Callable

from fedcore.results import health
from fedcore.results.decision import global_figures, model_round


def model_auroc(snapshot: dict) -> float:
    """The global AUROC of the run's model (its best round); NaN before a round."""
    run = snapshot["run"]
    if not run["rounds_done"]:
        return math.nan
    return float(global_figures(snapshot, model_round(run))[1].get("auroc", math.nan))


def judge(snapshot: dict) -> tuple[health.Health | None, float]:
    """What the showcase weighs of a run: its health and its model's global AUROC."""
    return health.assess(snapshot), model_auroc(snapshot)


def showcase(
    runs: list[dict], judged: Callable[[dict], tuple[health.Health | None, float]]
) -> dict | None:
    """The finished run whose model learned with the highest global AUROC; None when no run has
    (the pages then show the shipped model or offer a first run).

    ``judged`` gives :func:`judge` of one run (the dashboard passes its cached verdicts).
    """
    best, best_auroc = None, -math.inf
    for run in runs:
        if run["status"] != "finished" or not run["rounds_done"]:
            continue
        verdict, auroc = judged(run)
        if verdict is not None and verdict.learned and auroc > best_auroc:
            best, best_auroc = run, auroc
    return best
