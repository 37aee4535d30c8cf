"""The hospitals' local training step: traced once per model, reused by every hospital and round.

It replaces Keras' ``fit``, which rebuilds its data pipeline and callbacks on every call
(docs/benchmarks.md). One traced function takes an optimizer step and applies FedProx's and
SCAFFOLD's correction in the same graph; what differs between hospitals (start weights, FedProx
anchor and mu, SCAFFOLD's lr (c - c_i), the balanced-softmax prior) lives in variables that a
second traced function assigns once per hospital and round, so switching hospitals never
retraces.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

# One trainer per model: every hospital of the process shares the model.
_TRAINERS: "weakref.WeakKeyDictionary[keras.Model, LocalTrainer]" = weakref.WeakKeyDictionary()


class LocalTrainer:
    """The compiled local step of one model, with the FedProx / SCAFFOLD correction inside it.

    After each optimizer (Adam) step every weight moves by
    w <- w - lr (mu (w - w_global) + c - c_i): the proximal gradient of FedProx and
    SCAFFOLD's control correction, applied as a plain step of the round's learning
    rate, decoupled from Adam's scaling as AdamW decouples weight decay.

    Parameters
    ----------
    model : keras.Model
        Compiled with :class:`fedcore.model.balanced_loss.BalancedCrossEntropy` and Adam.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.weights = list(model.weights)
        self.optimizer = model.optimizer
        self._anchor = [
            tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.weights
        ]
        self._shift = [
            tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.weights
        ]
        self._mu = tf.Variable(0.0, trainable=False)
        self._zeros = [np.zeros(v.shape, np.float32) for v in self.weights]
        shape = tuple(model.input_shape[1:])
        classes = model.output_shape[-1]
        batch = [
            tf.TensorSpec((None, *shape), tf.float32),
            tf.TensorSpec((None, classes), tf.float32),
            tf.TensorSpec((None,), tf.float32),
        ]
        self._plain = tf.function(lambda x, y, w: self._step(x, y, w, False), input_signature=batch)
        self._corrected = tf.function(
            lambda x, y, w: self._step(x, y, w, True), input_signature=batch
        )
        specs = [tf.TensorSpec(v.shape, v.dtype) for v in self.weights]
        self._load = tf.function(
            self._load_body, input_signature=[specs, tf.TensorSpec((), tf.float32)]
        )
        self._correct = tf.function(
            self._correct_body, input_signature=[specs, specs, tf.TensorSpec((), tf.float32)]
        )
        self.corrected = False

    def start(
        self,
        weights: list[np.ndarray],
        learning_rate: float,
        mu: float = 0.0,
        shift: list[np.ndarray] | None = None,
    ) -> None:
        """Begin a hospital's round: its start weights, a fresh optimizer, its correction.

        Parameters
        ----------
        weights : list of np.ndarray
            The global weights (and FedProx's anchor).
        learning_rate : float
            The round's local learning rate.
        mu : float
            FedProx's proximal weight (0: none).
        shift : list of np.ndarray, optional
            SCAFFOLD's lr (c - c_i), added to every step (None: none).
        """
        self._load(weights, np.float32(learning_rate))
        self.corrected = bool(mu) or shift is not None
        if self.corrected:
            self._correct(weights, self._zeros if shift is None else shift, np.float32(mu))

    def warm_up(self, corrected: bool) -> None:
        """Trace what :meth:`start` and :meth:`step` will run and run it once, on one image of
        zeros at learning rate 0, then put every weight back.

        A step's first call traces it and then optimises and instantiates its graph: about a
        second of CPU. Paid here, before round 1, round 1 costs what later rounds cost. What the
        step touched is reset by the next :meth:`start` anyway (the weights with their moving
        statistics, the optimizer, the correction) and the dropout seed by the hospital's
        reseed, so the figures are the same bits (tests/hospital/test_warm_up.py).

        Parameters
        ----------
        corrected : bool
            Warm the step with FedProx's or SCAFFOLD's correction, else the plain one.
        """
        weights = [np.array(v.numpy()) for v in self.weights]
        self.start(weights, 0.0, mu=1.0 if corrected else 0.0)
        shape, classes = tuple(self.model.input_shape[1:]), self.model.output_shape[-1]
        one = np.zeros((1, *shape), np.float32)
        self.step(one, np.zeros((1, classes), np.float32), np.zeros((1,), np.float32))
        self._load(weights, np.float32(0.0))

    def step(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray) -> tf.Tensor:
        """One optimizer step (with the correction set by :meth:`start`); the batch's mean loss."""
        return (self._corrected if self.corrected else self._plain)(x, y, sample_weight)

    def trained_weights(self) -> list[np.ndarray]:
        """The weights after the steps, as arrays (the order of ``model.get_weights``)."""
        return [np.array(v.numpy()) for v in self.weights]

    def _step(self, x, y, sample_weight, corrected: bool):
        trainable = self.model.trainable_variables
        with tf.GradientTape() as tape:
            # The mean over the batch of each example's weighted loss, as Keras' fit computes it.
            loss = tf.reduce_mean(
                sample_weight * self.model.loss.call(y, self.model(x, training=True))
            )
        self.optimizer.apply_gradients(zip(tape.gradient(loss, trainable), trainable))
        if corrected:
            lr = tf.cast(self.optimizer.learning_rate, tf.float32)
            for variable, anchor, shift in zip(self.weights, self._anchor, self._shift):
                variable.assign_sub(lr * self._mu * (variable - anchor) + shift)
        return loss

    def _load_body(self, values, learning_rate):
        for variable, value in zip(self.weights, values):
            variable.assign(value)
        # A fresh local optimizer: Adam's moments and step count start at zero each round.
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros(variable.shape, variable.dtype))
        self.optimizer.learning_rate.assign(learning_rate)

    def _correct_body(self, anchor, shift, mu):
        for variable, value in zip(self._anchor, anchor):
            variable.assign(value)
        for variable, value in zip(self._shift, shift):
            variable.assign(value)
        self._mu.assign(mu)


def local_trainer(model: keras.Model) -> LocalTrainer:
    """The process's :class:`LocalTrainer` of ``model``, built on first use."""
    if model not in _TRAINERS:
        _TRAINERS[model] = LocalTrainer(model)
    return _TRAINERS[model]
