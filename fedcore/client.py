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

from fedcore.balanced_loss import label_shares
from fedcore.config import RunConfig
from fedcore.data import HospitalData, Split, to_model_input
from fedcore.operating_point import scored, threshold_counts
from fedcore.model import BuiltModel, predict_pneumonia
from fedcore.payload import FitOutcome
from fedcore.strategies.drift import CONTROL_KEY, control_update

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


class LocalCorrection(keras.callbacks.Callback):
    """After each optimizer step: w <- w - lr (mu (w - w_global) + c - c_i).

    The proximal gradient of FedProx and SCAFFOLD's control correction, both applied as
    a plain step of the round's learning rate after the local (Adam) step, decoupled
    from Adam's scaling as AdamW decouples weight decay. Counts the steps taken.
    """

    def __init__(self, variables: list, anchor: list[np.ndarray], mu: float, correction: list[np.ndarray] | None,
                 learning_rate: float):
        super().__init__()
        self.variables, self.steps = variables, 0
        self.mu, self.lr = float(mu), float(learning_rate)
        self.anchor = [keras.ops.convert_to_tensor(np.asarray(a, np.float32)) for a in anchor]
        # lr (c - c_i) is the same at every step: converted once, not per batch.
        self.shift = None if correction is None else [
            keras.ops.convert_to_tensor((self.lr * np.asarray(c, np.float64)).astype(np.float32)) for c in correction]

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        for i, variable in enumerate(self.variables):
            if self.mu:
                variable.assign_sub(self.lr * self.mu * (variable - self.anchor[i]))
            if self.shift is not None:
                variable.assign_sub(self.shift[i])


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
        self._prior = label_shares(data.train.labels) if config.balanced_softmax else None
        weighted = config.class_weighting and not config.balanced_softmax
        self._weights = class_weights(data.train.labels) if weighted else None
        self._eval_inputs: dict[str, np.ndarray] = {}
        # SCAFFOLD's c_i: this hospital's own control variate, kept here between rounds.
        self.control: list[np.ndarray] | None = None

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
            From the strategy's configure_fit: ``learning_rate`` overrides the config's;
            ``proximal_mu`` (FedProx) and ``scaffold_control`` (SCAFFOLD's c) correct each step.
        should_stop : callable, optional
            Polled after every batch.

        Raises
        ------
        LocalTrainingStopped
            When ``should_stop`` became true mid-epoch.
        """
        instructions = instructions or {}
        model = self.built.model
        model.set_weights(weights)
        self.built.reset_optimizer(instructions.get("learning_rate"))
        model.loss.set_prior(self._prior)
        seed = local_seed(self.config.seed, server_round, self.index)
        self.built.reseed(seed)
        order_rng = np.random.default_rng(seed)
        stopper = _StopCallback(should_stop) if should_stop else None
        correction = self._correction(weights, instructions)
        callbacks = [c for c in (correction, stopper) if c is not None]
        start = time.perf_counter()
        for _ in range(self.config.local_epochs):
            # Shuffled here, seeded per (run seed, round, hospital): a resumed run repeats it exactly.
            order = order_rng.permutation(len(self._y_train))
            history = model.fit(self._x_train[order], self._y_train[order], batch_size=self.config.batch_size,
                                epochs=1, class_weight=self._weights, shuffle=False, verbose=0,
                                callbacks=callbacks)
            if stopper and stopper.stopped:
                break
        seconds = time.perf_counter() - start
        if stopper and stopper.stopped:
            raise LocalTrainingStopped(self.name)
        trained = model.get_weights()
        if CONTROL_KEY in instructions:
            self.control = control_update(self.control, instructions[CONTROL_KEY], weights, trained,
                                          correction.steps, correction.lr)
        return FitOutcome(trained, self.num_examples,
                          {"train_loss": float(history.history["loss"][-1]), "fit_seconds": seconds})

    def _correction(self, weights: list[np.ndarray], instructions: dict) -> LocalCorrection | None:
        """The per-step FedProx / SCAFFOLD correction the instructions ask for, or None."""
        mu = float(instructions.get("proximal_mu", 0.0))
        server_control = instructions.get(CONTROL_KEY)
        if not mu and server_control is None:
            return None
        difference = None
        if server_control is not None:
            if self.control is None:
                self.control = [np.zeros(np.shape(w), np.float64) for w in weights]
            difference = [c - ci for c, ci in zip(server_control, self.control)]
        lr = float(self.built.model.optimizer.learning_rate.numpy())
        return LocalCorrection(self.built.model.weights, weights, mu, difference, lr)

    def evaluate(self, weights: list[np.ndarray], split: str = "test", operating_point: dict | None = None) -> dict:
        """Binary metrics of ``weights`` on one of this hospital's splits (also at the operating point, if given)."""
        data: Split = getattr(self.data, split)
        if split not in self._eval_inputs:
            self._eval_inputs[split] = to_model_input(data.images)
        self.built.model.set_weights(weights)
        scores = predict_pneumonia(self.built.model, self._eval_inputs[split])
        return scored(data.labels, scores, self.config.threshold, operating_point, f"{self.name} ({split} set)")

    def validation_counts(self, weights: list[np.ndarray]) -> dict:
        """Confusion counts of ``weights`` on this hospital's validation images at every grid threshold.

        Counts only (no scores, no labels) leave the hospital; the server sums them over
        the hospitals to choose the operating point (fedcore.operating_point).
        """
        if "val" not in self._eval_inputs:
            self._eval_inputs["val"] = to_model_input(self.data.val.images)
        self.built.model.set_weights(weights)
        return threshold_counts(self.data.val.labels, predict_pneumonia(self.built.model, self._eval_inputs["val"]))


def make_hospital(data: HospitalData, built: BuiltModel, config: RunConfig, index: int) -> Hospital:
    """A hospital that trains as ``config.dp`` asks: DP-SGD for 'patient', plain otherwise."""
    if config.dp == "patient":
        from fedcore.privacy.dp_sgd import DPHospital  # TensorFlow tracing code, only when asked for

        return DPHospital(data, built, config, index)
    return Hospital(data, built, config, index)
