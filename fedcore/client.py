"""Hospital side: train the global weights on this hospital's own images; evaluate weights here.

What leaves a hospital is a :class:`fedcore.payload.FitOutcome` (weights, number of examples, a few
training figures) or a metrics dict: never images or labels. The in-process engine and
the Flower ClientApp both use this class.
"""

from __future__ import annotations

import time
from typing import Callable

import keras
import numpy as np

from fedcore.config import RunConfig
from fedcore.data import HospitalData, Split, to_model_input
from fedcore.metrics import binary_metrics, roc_points
from fedcore.model import BuiltModel, predict_pneumonia
from fedcore.payload import FitOutcome

# A hospital with a handful of NORMAL images would otherwise weight each of them by
# hundreds; the cap keeps one image from dominating the local update.
MAX_CLASS_WEIGHT = 10.0


def class_weights(labels: np.ndarray, cap: float = MAX_CLASS_WEIGHT) -> dict[int, float]:
    """Balanced class weights n / (2 n_c) from a hospital's own labels, capped at ``cap``."""
    labels = np.asarray(labels).ravel()
    n = len(labels)
    return {c: float(min(cap, n / (2 * max(1, int((labels == c).sum()))))) for c in (0, 1)}


def local_seed(seed: int, server_round: int, index: int) -> int:
    """The seed of one hospital's training in one round: resuming repeats it exactly."""
    return (seed * 1_000_003 + server_round * 1_009 + index * 7 + 1) % (2**31 - 1)


class _StopCallback(keras.callbacks.Callback):
    """Ends local training at the next batch once ``should_stop()`` is true."""

    def __init__(self, should_stop: Callable[[], bool]):
        super().__init__()
        self.should_stop = should_stop
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if self.should_stop():
            self.stopped = True
            self.model.stop_training = True


class LocalTrainingStopped(Exception):
    """Local training was interrupted by a stop request; its update is discarded."""


class Hospital:
    """One hospital: its private data and the shared, already compiled model.

    Parameters
    ----------
    data : HospitalData
        This hospital's train/val/test splits.
    built : BuiltModel
        The process's one compiled model; weights are set before every use.
    config : RunConfig
        Uses local_epochs, batch_size, class_weighting, threshold, seed.
    index : int
        Position of the hospital in the federation (seeds its local steps).
    """

    def __init__(self, data: HospitalData, built: BuiltModel, config: RunConfig, index: int):
        self.name = data.name
        self.data = data
        self.built = built
        self.config = config
        self.index = index
        self._x_train = to_model_input(data.train.images)
        self._y_train = keras.utils.to_categorical(data.train.labels, 2)
        self._weights = class_weights(data.train.labels) if config.class_weighting else None
        self._eval_inputs: dict[str, np.ndarray] = {}

    @property
    def num_examples(self) -> int:
        """Training images held here."""
        return len(self.data.train)

    def fit(self, weights: list[np.ndarray], server_round: int, instructions: dict | None = None,
            should_stop: Callable[[], bool] | None = None) -> FitOutcome:
        """Train ``weights`` for the configured local epochs on this hospital's training images.

        Parameters
        ----------
        weights : list of np.ndarray
            The global weights to start from.
        server_round : int
            Seeds this hospital's shuffling and dropout for the round.
        instructions : dict, optional
            From the strategy's configure_fit: ``learning_rate`` overrides the config's.
        should_stop : callable, optional
            Polled after every batch.

        Raises
        ------
        LocalTrainingStopped
            When ``should_stop`` became true mid-epoch.
        """
        model = self.built.model
        model.set_weights(weights)
        self.built.reset_optimizer((instructions or {}).get("learning_rate"))
        seed = local_seed(self.config.seed, server_round, self.index)
        self.built.reseed(seed)
        order_rng = np.random.default_rng(seed)
        callbacks = [_StopCallback(should_stop)] if should_stop else []
        start = time.perf_counter()
        for _ in range(self.config.local_epochs):
            # Shuffled here, seeded per (run seed, round, hospital): a resumed run repeats it exactly.
            order = order_rng.permutation(len(self._y_train))
            history = model.fit(self._x_train[order], self._y_train[order], batch_size=self.config.batch_size,
                                epochs=1, class_weight=self._weights, shuffle=False, verbose=0,
                                callbacks=callbacks)
            if callbacks and callbacks[0].stopped:
                break
        seconds = time.perf_counter() - start
        if callbacks and callbacks[0].stopped:
            raise LocalTrainingStopped(self.name)
        return FitOutcome(model.get_weights(), self.num_examples,
                          {"train_loss": float(history.history["loss"][-1]), "fit_seconds": seconds})

    def evaluate(self, weights: list[np.ndarray], split: str = "test") -> dict:
        """Binary metrics of ``weights`` on one of this hospital's splits."""
        data: Split = getattr(self.data, split)
        if split not in self._eval_inputs:
            self._eval_inputs[split] = to_model_input(data.images)
        self.built.model.set_weights(weights)
        scores = predict_pneumonia(self.built.model, self._eval_inputs[split])
        return binary_metrics(data.labels, scores, self.config.threshold, f"{self.name} ({split} set)") | roc_points(
            data.labels, scores)


def make_hospital(data: HospitalData, built: BuiltModel, config: RunConfig, index: int) -> Hospital:
    """A hospital that trains as ``config.dp`` asks: DP-SGD for 'patient', plain otherwise."""
    if config.dp == "patient":
        from fedcore.privacy.dp_sgd import DPHospital  # TensorFlow tracing code, only when asked for

        return DPHospital(data, built, config, index)
    return Hospital(data, built, config, index)
