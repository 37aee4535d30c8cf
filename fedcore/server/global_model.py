"""Server side: aggregate the hospitals' weights and evaluate the global model on the global test
set.

The server holds the global test set and the strategy; it receives only weights and
example counts from the hospitals.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fedcore.data import Split, to_model_input
from fedcore.model.networks import BuiltModel, predict_pneumonia, trace_prediction
from fedcore.payload import FitOutcome
from fedcore.results.calibration import calibration_figures
from fedcore.results.operating_point import choose_threshold, pooled_counts, scored
from fedcore.results.recalibration import fit_from_counts
from fedcore.strategies import Strategy


class Server:
    """Aggregation and global evaluation.

    Parameters
    ----------
    strategy : Strategy
        How hospital results become the next global weights (FedAvg by default).
    built : BuiltModel
        A compiled model to evaluate weights with.
    global_test : Split
        The server's test images (the 624 official test images by default).
    threshold : float
        P(pneumonia) at which an image is called PNEUMONIA.
    target_sensitivity : float, optional
        Choose the operating point for this sensitivity instead of the maximum Youden J.
    """

    def __init__(
        self,
        strategy: Strategy,
        built: BuiltModel,
        global_test: Split,
        threshold: float = 0.5,
        target_sensitivity: float | None = None,
    ):
        self.strategy = strategy
        self.built = built
        self.global_test = global_test
        self.threshold = threshold
        self.target_sensitivity = target_sensitivity
        self.inputs = to_model_input(global_test.images)

    def operating_point(self, reports: Sequence[dict]) -> dict:
        """The round's threshold (fedcore.results.operating_point) and calibration map
        (``calibration``, fedcore.results.calibration; None when a class is absent), both from the
        hospitals' pooled validation counts."""
        pooled = pooled_counts(reports)
        # The map is read at the pneumonia share of the server's own test set, the population
        # its figures describe (the validation images have the training images' share).
        target = float(np.mean(self.global_test.labels)) if len(self.global_test) else None
        return choose_threshold(pooled, self.target_sensitivity) | {
            "calibration": fit_from_counts(pooled, target)
        }

    def aggregate(
        self, server_round: int, outcomes: Sequence[FitOutcome], global_weights: list[np.ndarray]
    ) -> list[np.ndarray]:
        """Next global weights from this round's hospital outcomes."""
        return self.strategy.aggregate_fit(
            server_round, [(o.weights, o.num_examples) for o in outcomes], global_weights
        )

    def warm_up(self) -> None:
        """Trace the prediction before round 1, so that round 1's evaluation costs what later
        rounds' do (nothing that changes a weight runs)."""
        trace_prediction(self.built.model)

    def evaluate(self, weights: list[np.ndarray], operating_point: dict | None = None) -> dict:
        """Binary metrics of ``weights`` on the global test set, at the fixed threshold and,
        when given, also at the federated ``operating_point`` (keys prefixed ``op_``)."""
        return self.scored(self.scores(weights), operating_point)

    def scores(self, weights: list[np.ndarray]) -> np.ndarray:
        """P(pneumonia) of ``weights`` on the global test set: what :meth:`evaluate` scores (a
        Flower server predicts them while the hospitals evaluate)."""
        self.built.model.set_weights(weights)
        return predict_pneumonia(self.built.model, self.inputs)

    def scored(self, scores: np.ndarray, operating_point: dict | None = None) -> dict:
        """:meth:`evaluate`'s metrics from the global model's scores on the global test set, with
        the round's calibration map and the calibration error after it."""
        labels = self.global_test.labels
        mapping = (operating_point or {}).get("calibration")
        return scored(
            labels,
            scores,
            self.threshold,
            operating_point,
            "the global model on the global test set",
        ) | calibration_figures(labels, scores, mapping)
