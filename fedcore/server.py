"""Server side: aggregate the hospitals' weights and evaluate the global model on the global test set.

The server holds the global test set and the strategy; it receives only weights and
example counts from the hospitals.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fedcore.payload import FitOutcome
from fedcore.data import Split, to_model_input
from fedcore.metrics import binary_metrics, roc_points
from fedcore.model import BuiltModel, predict_pneumonia
from fedcore.strategy import Strategy


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
    """

    def __init__(self, strategy: Strategy, built: BuiltModel, global_test: Split, threshold: float = 0.5):
        self.strategy = strategy
        self.built = built
        self.global_test = global_test
        self.threshold = threshold
        self._x_test = to_model_input(global_test.images)

    def aggregate(self, server_round: int, outcomes: Sequence[FitOutcome],
                  global_weights: list[np.ndarray]) -> list[np.ndarray]:
        """Next global weights from this round's hospital outcomes."""
        return self.strategy.aggregate_fit(server_round, [(o.weights, o.num_examples) for o in outcomes],
                                           global_weights)

    def evaluate(self, weights: list[np.ndarray]) -> dict:
        """Binary metrics of ``weights`` on the global test set."""
        self.built.model.set_weights(weights)
        scores = predict_pneumonia(self.built.model, self._x_test)
        return binary_metrics(self.global_test.labels, scores, self.threshold,
                              "the global model on the global test set") | roc_points(
            self.global_test.labels, scores)
