"""The three ways a run trains, as small objects the round loop asks: federated, centralized, local.

Each mode says who trains, what model each starts a round from, what the round's outcomes
become, how the state is evaluated and which score picks the best round, so the loop in
fedcore.run.engine is the same for all three.
"""

from __future__ import annotations

import numpy as np

from fedcore.config.run_config import RunConfig
from fedcore.data import Federation, HospitalData, Split, to_model_input
from fedcore.hospital.kinds import make_hospital
from fedcore.hospital.training import Hospital
from fedcore.model.networks import BuiltModel, predict_pneumonia
from fedcore.payload import FitOutcome
from fedcore.results.operating_point import at_operating_point
from fedcore.server.global_model import Server


class Evaluation:
    """Every hospital's validation and test images and the global test set, converted once.

    Each split is predicted on its own, in the batches a Flower hospital (or the server) uses
    for it: on some CPUs a score's last bits depend on the batch its image shares (AMD EPYC,
    AVX2: 1e-9 in the loss when the splits were stacked into one stream), and a Flower run must
    equal this one bit for bit. Each hospital's metrics come from its own scores only.

    Parameters
    ----------
    server : Server
    hospitals : list of Hospital
        The hospitals whose validation and test images are scored.
    """

    def __init__(self, server: Server, hospitals: list[Hospital]):
        self.server, self.hospitals = server, hospitals
        self._inputs: list[np.ndarray] | None = None

    def scores(self, weights: list) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """P(pneumonia) under ``weights``: (each hospital's validation scores, each one's test
        scores, the global test set's)."""
        if self._inputs is None:
            splits = [h.data.val for h in self.hospitals] + [h.data.test for h in self.hospitals]
            self._inputs = [to_model_input(s.images) for s in splits] + [self.server.inputs]
        model = self.server.built.model
        model.set_weights(weights)
        parts = [predict_pneumonia(model, x) for x in self._inputs]
        k = len(self.hospitals)
        val, test = parts[:k], parts[k : 2 * k]
        # Under FedBN a hospital that trained reads its own test images with its own
        # normalisation; the validation counts stay the global model's, whose threshold they set.
        for i, hospital in enumerate(self.hospitals):
            own = hospital.own(weights)
            if own is not weights:
                model.set_weights(own)
                test[i] = predict_pneumonia(model, hospital.inputs("test"))
                model.set_weights(weights)
        return val, test, parts[-1]


def pooled(federation: Federation) -> HospitalData:
    """All hospitals' images as one site: the centralized baseline (what FL avoids doing)."""

    def cat(split: str) -> Split:
        parts = [getattr(h, split) for h in federation.hospitals]
        return Split(
            np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts])
        )

    return HospitalData("pooled", cat("train"), cat("val"), cat("test"))


class Federated:
    """FedAvg over the hospitals: one global model, sent to every hospital each round."""

    def participants(
        self,
        hospitals: list[Hospital],
        federation: Federation,
        built: BuiltModel,
        config: RunConfig,
    ) -> list[Hospital]:
        """Who trains each round."""
        return hospitals

    def initial_state(self, weights: list, hospitals: list[Hospital]) -> dict[str, list]:
        """The models before round 1, by name."""
        return {"global": weights}

    def start_weights(self, state: dict[str, list], name: str) -> list:
        """The weights hospital ``name`` trains from this round."""
        return state["global"]

    def next_state(
        self,
        server: Server,
        server_round: int,
        outcomes: dict[str, FitOutcome],
        state: dict[str, list],
        hospitals: list[Hospital],
    ) -> dict[str, list]:
        """The models after the round: the strategy's aggregate."""
        return {"global": server.aggregate(server_round, list(outcomes.values()), state["global"])}

    def sample(
        self, participants: list[Hospital], server_round: int, config: RunConfig
    ) -> list[Hospital]:
        """Who trains in ``server_round``: a ``fraction_fit`` share (at least one), drawn by
        (seed, round) so that a resumed run draws the same."""
        if config.fraction >= 1 or len(participants) <= 1:
            return participants
        count = max(1, int(round(config.fraction * len(participants))))
        chosen = np.random.default_rng([config.seed, server_round, 17]).choice(
            len(participants), count, replace=False
        )
        return [participants[i] for i in sorted(chosen)]

    def evaluate(self, evaluation: "Evaluation", state: dict[str, list]) -> dict[str, dict]:
        """Metrics of the global model on the global test set and on each hospital's test set.

        Both at the fixed threshold and at the operating point the server chose from the
        hospitals' validation counts; a hospital is read from its test counts at that point, as
        a Flower run reports it in one message.
        """
        server, hospitals = evaluation.server, evaluation.hospitals
        val, test, global_test = evaluation.scores(state["global"])
        point = server.operating_point([h.counts(p) for h, p in zip(hospitals, val)])
        metrics = {"global": server.scored(global_test, point)}
        for h, p in zip(hospitals, test):
            metrics[h.name] = at_operating_point(h.test_report(p), point)
        return metrics

    def score(self, metrics: dict[str, dict], hospitals: list[Hospital]) -> float:
        """The best-round criterion: global AUROC."""
        return metrics["global"]["auroc"]

    def headline(self, metrics: dict[str, dict], hospitals: list[Hospital]) -> str:
        """The round's global figures for the log line: at the operating point, then at the
        fixed threshold."""
        g = metrics["global"]
        chosen = ""
        if "op_threshold" in g:
            chosen = (
                f"at t = {g['op_threshold']:.3f}: acc {g['op_accuracy']:.3f} "
                f"sens {g['op_sensitivity']:.3f} spec {g['op_specificity']:.3f} | "
            )
        return (
            f"global auroc {g['auroc']:.3f} loss {g['loss']:.3f} {chosen}at "
            f"{hospitals[0].config.threshold:g}: acc {g['accuracy']:.3f} "
            f"sens {g['sensitivity']:.3f} "
            f"spec {g['specificity']:.3f}"
        )


class Centralized(Federated):
    """Every hospital's images pooled at one site: the upper reference, what federation avoids."""

    def participants(self, hospitals, federation, built, config):
        return [make_hospital(pooled(federation), built, config, 0)]


class Local(Federated):
    """Each hospital trains alone from the same start; each model is also judged on the global
    test set."""

    def initial_state(self, weights, hospitals):
        return {h.name: weights for h in hospitals}

    def start_weights(self, state, name):
        return state[name]

    def next_state(self, server, server_round, outcomes, state, hospitals):
        # A hospital that failed this round keeps its model from the last.
        return {name: o.weights for name, o in outcomes.items()} | {
            h.name: state[h.name] for h in hospitals if h.name not in outcomes
        }

    def sample(self, participants, server_round, config):
        return participants

    def evaluate(self, evaluation, state):
        metrics = {}
        for h in evaluation.hospitals:
            metrics[h.name] = h.evaluate(state[h.name])
            metrics[f"global:{h.name}"] = evaluation.server.evaluate(state[h.name])
        return metrics

    def score(self, metrics, hospitals):
        return float(np.nanmean([metrics[f"global:{h.name}"]["auroc"] for h in hospitals]))

    def headline(self, metrics, hospitals):
        return "local models on global test: " + " ".join(
            f"{h.name} auroc {metrics[f'global:{h.name}']['auroc']:.3f}" for h in hospitals
        )


MODES = {"federated": Federated(), "centralized": Centralized(), "local": Local()}
