"""Which round's model is the run's best, and where a resumed run takes that up again.

The best round is chosen by the mode's score (global AUROC; local mode: the mean over
the hospitals' models); its weights are kept as the run's 'best' checkpoint.
"""

from __future__ import annotations

import math

import numpy as np

from fedcore.results.scope import Scope
from fedcore.store import RunStore


class BestTracker:
    """Which round's weights were best by global AUROC (ties and NaN keep the earlier)."""

    def __init__(self, best_round: int | None = None, best_score: float = -math.inf):
        self.best_round = best_round
        self.best_score = best_score

    def offer(self, server_round: int, score: float) -> bool:
        """True when this round is the new best."""
        if score is None or not math.isfinite(score) or score <= self.best_score:
            return False
        self.best_round, self.best_score = server_round, score
        return True


def best_so_far(store: RunStore, run_id: str) -> BestTracker:
    """The best round of a stored run by its score (a resumed run continues from it)."""
    snap = store.snapshot(run_id)
    tracker = BestTracker()
    mode = snap["run"]["mode"]
    by_round: dict[int, list[float]] = {}
    for m in snap["metrics"]:
        scope = Scope.parse(m["scope"], mode)
        # The run's model: the global one, or in local mode each hospital's own.
        if scope.on_global_test and (scope.model != "global") == (mode == "local"):
            by_round.setdefault(m["round"], []).append(m["auroc"])
    for server_round in sorted(by_round):
        tracker.offer(server_round, float(np.nanmean(by_round[server_round])))
    return tracker
