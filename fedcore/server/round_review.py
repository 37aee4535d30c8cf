"""The server's look back at a round: each update's geometry and flag, what a robust strategy did
with it, and (when on) each hospital's leave-one-out contribution, added to the round's fit facts.

The in-process engine and the Flower ServerApp call it; over Flower contributions would need a
``counts_of`` that asks the SuperNodes to evaluate the leave-one-out aggregates.
"""

from __future__ import annotations

import copy
import time
from typing import Sequence

import numpy as np

from fedcore.data import to_model_input
from fedcore.model.networks import BuiltModel, predict_pneumonia
from fedcore.payload import FitOutcome
from fedcore.server.contribution import ValidationCounts, leave_one_out
from fedcore.server.fit_facts import hospitals_only
from fedcore.server.update_geometry import geometry
from fedcore.strategies import Strategy
from fedcore.strategies.base import flatten, updates_of


class ValidationScorer:
    """Hospitals' validation counts of any weights.

    In-process stand-in for asking each hospital: each hospital's validation images are
    predicted on their own, in the batches the hospital would use (see
    fedcore.run.modes.Evaluation), and its own ``counts`` turns the scores into counts, the only
    thing that is used.

    Parameters
    ----------
    built : BuiltModel
    hospitals : sequence
        Objects with ``data.val.images`` and ``counts(scores) -> dict`` (fedcore.hospital).
    """

    def __init__(self, built: BuiltModel, hospitals: Sequence):
        self.built, self.hospitals = built, list(hospitals)
        self._inputs: list[np.ndarray] | None = None

    def __call__(self, weights: list[np.ndarray]) -> list[dict]:
        if self._inputs is None:
            self._inputs = [to_model_input(h.data.val.images) for h in self.hospitals]
        self.built.model.set_weights(weights)
        return [
            h.counts(predict_pneumonia(self.built.model, x))
            for h, x in zip(self.hospitals, self._inputs)
        ]


def strategy_report(strategy: Strategy) -> list[dict]:
    """What a robust strategy (fedcore.strategies.robust) did with each update last round;
    empty for the others. Looks through a privacy wrapper (its ``inner``)."""
    while hasattr(strategy, "inner"):
        strategy = strategy.inner
    return list(getattr(strategy, "last_report", []))


class RoundReview:
    """Adds the round's geometry, flags, strategy report and contributions to its fit facts.

    Parameters
    ----------
    strategy : Strategy
        The run's strategy (copied before each aggregation when contributions are on).
    counts_of : callable, optional
        Weights -> each hospital's validation counts; None turns contributions off.
    drop_flagged : bool, default False
        The defence: :meth:`screen` leaves flagged updates out of the aggregate.
    """

    def __init__(
        self,
        strategy: Strategy,
        counts_of: ValidationCounts | None = None,
        drop_flagged: bool = False,
    ):
        self.strategy, self.counts_of, self.drop_flagged = strategy, counts_of, drop_flagged
        self._before: Strategy | None = None
        self._dropped: list[str] = []

    def screen(
        self, outcomes: dict[str, FitOutcome], global_weights: list[np.ndarray]
    ) -> dict[str, FitOutcome]:
        """The outcomes the round aggregates: every one, or under ``drop_flagged`` those the
        flag rule (fedcore.server.update_geometry) does not flag. The defence sits in front of
        the strategy, so it works with any."""
        self._dropped = []
        names = [n for n, o in outcomes.items() if o.weights]
        if not self.drop_flagged or len(names) != len(outcomes):
            return outcomes
        results = [(outcomes[n].weights, outcomes[n].num_examples) for n in names]
        updates = np.stack(updates_of(results, global_weights))
        per = geometry(updates, np.zeros(updates.shape[1]), np.array([n for _, n in results]))
        self._dropped = [n for n, facts in zip(names, per) if facts["flagged"]]
        return {n: o for n, o in outcomes.items() if n not in self._dropped}

    def before_aggregate(self) -> None:
        """Keep the strategy as it is before the round's aggregation changes its state."""
        if self.counts_of is not None:
            self._before = copy.deepcopy(self.strategy)

    def annotate(
        self,
        fit_info: dict,
        server_round: int,
        outcomes: dict[str, FitOutcome],
        global_weights: list[np.ndarray],
        aggregate: list[np.ndarray],
    ) -> dict:
        """``fit_info`` with each hospital's geometry (and contribution) and the round's flags.

        Nothing is added when the server does not see each update (SecAgg+).
        """
        start = time.perf_counter()
        names = [n for n, o in outcomes.items() if o.weights]
        if len(names) != len(outcomes) or not names:
            return fit_info
        results = [(outcomes[n].weights, outcomes[n].num_examples) for n in names]
        updates = np.stack(updates_of(results, global_weights))
        step = flatten(aggregate) - flatten(global_weights)
        for name in names:
            fit_info[name]["dropped"] = int(name in self._dropped)
        # Leave-one-out over what the aggregate took: a dropped update changed nothing.
        kept = [i for i, n in enumerate(names) if n not in self._dropped]
        per = geometry(updates, step, np.array([n for _, n in results]))
        for i, name in enumerate(names):
            fit_info[name].update(per[i])
        # A robust strategy reports on the updates it was given: those kept, in order.
        report = strategy_report(self.strategy)
        if len(report) == len(kept):
            for i, facts in zip(kept, report):
                fit_info[names[i]].update(facts)
        if self._before is not None:
            auroc, contributions = leave_one_out(
                self._before,
                server_round,
                [results[i] for i in kept],
                global_weights,
                aggregate,
                self.counts_of,
            )
            fit_info["_round"]["validation_auroc"] = auroc
            for i, value in zip(kept, contributions):
                fit_info[names[i]]["contribution"] = value
        fit_info["_round"]["flagged"] = [
            n for n, facts in hospitals_only(fit_info).items() if facts.get("flagged")
        ]
        fit_info["_round"]["dropped"] = list(self._dropped)
        self._before = None
        fit_info["_round"]["review_seconds"] = time.perf_counter() - start
        return fit_info
