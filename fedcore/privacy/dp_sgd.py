"""Patient-level differential privacy at a hospital: DP-SGD (Abadi et al., 2016) on the shared model.

One step, on the process's one compiled model:

1. Poisson sampling: every training image joins the batch independently with
   probability q = B / n (B the configured batch size, n the hospital's images), so
   batches vary in size around B; this is the sampling the accountant assumes.
2. Every example's gradient of its own loss, all at once with ``tf.vectorized_map``:
   no Python loop over examples.
3. Each example's gradient, taken over all trainable variables together, is scaled
   to L2 norm at most C, then multiplied by its class weight divided by the largest
   class weight (so by at most 1: no example's share exceeds C).
4. The weighted clipped gradients are summed, Gaussian noise N(0, (sigma C)^2) is added to
   every coordinate, and the sum is divided by the expected batch size B (a fixed
   denominator: dividing by the drawn size would leak it).
5. SGD with momentum 0.9 applies the result (anything computed from the noisy
   gradient alone is post-processing and spends no privacy). Not the model's Adam:
   Adam divides each coordinate by its own gradient scale, which under DP noise is
   the noise's, so every weight takes a full-size step in a random direction; on this
   CNN that random walk kept the global AUROC below 0.5 at any learning rate tried.

A hospital with n images runs ``local_epochs * ceil(n / B)`` steps a round; its
epsilon after round t composes all ``t`` rounds' steps (fedcore.accounting).
"""

from __future__ import annotations

import math
import time
import weakref
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from fedcore.quiet import quiet_logger
from fedcore import accounting
from fedcore.client import FitOutcome, Hospital, LocalTrainingStopped, local_seed
from fedcore.config import RunConfig
from fedcore.data import HospitalData
from fedcore.model import BuiltModel

MOMENTUM = 0.9

# One trainer per model: tracing the vectorised per-example gradients takes seconds
# and every hospital of the process shares the model.
_TRAINERS: "weakref.WeakKeyDictionary[keras.Model, DPTrainer]" = weakref.WeakKeyDictionary()


def per_example_gradients(model: keras.Model, x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
    """The gradient of each example's loss with respect to every trainable variable.

    Parameters
    ----------
    model : keras.Model
        Outputs class probabilities (softmax); trained with categorical cross-entropy.
    x : tf.Tensor, shape (b, ...)
        Inputs.
    y : tf.Tensor, shape (b, classes)
        One-hot labels.

    Returns
    -------
    list of tf.Tensor
        One tensor per trainable variable, shape (b, *variable.shape).
    """
    variables = model.trainable_variables

    def one(example):
        xi, yi = example
        with tf.GradientTape() as tape:
            loss = keras.losses.categorical_crossentropy(yi[None], model(xi[None], training=True))[0]
        return tape.gradient(loss, variables)

    return tf.vectorized_map(one, (x, y))


def clip_per_example(grads: list[tf.Tensor], clip_norm) -> tuple[list[tf.Tensor], tf.Tensor]:
    """Scale each example's gradient (over all variables together) to L2 norm at most ``clip_norm``.

    Parameters
    ----------
    grads : list of tf.Tensor
        Per-example gradients, each (b, *variable.shape).
    clip_norm : float or scalar tensor
        C > 0.

    Returns
    -------
    clipped : list of tf.Tensor
        Same shapes; example i multiplied by min(1, C / ||g_i||).
    norms : tf.Tensor, shape (b,)
        Each example's norm before clipping.
    """
    squares = [tf.reduce_sum(tf.reshape(tf.square(g), [tf.shape(g)[0], -1]), axis=1) for g in grads]
    norms = tf.sqrt(tf.add_n(squares))
    # A zero gradient stays zero: maximum() only guards the division.
    factors = tf.minimum(1.0, clip_norm / tf.maximum(norms, 1e-12))
    clipped = [g * tf.reshape(factors, [-1] + [1] * (len(g.shape) - 1)) for g in grads]
    return clipped, norms


def noisy_mean(sums: list[tf.Tensor], clip_norm, noise_multiplier, denominator,
               seed: tf.Tensor) -> list[tf.Tensor]:
    """(sum_i clipped g_i + N(0, (sigma C)^2)) / denominator, per variable.

    Parameters
    ----------
    sums : list of tf.Tensor
        The clipped per-example gradients summed over the batch, one per variable.
    clip_norm, noise_multiplier, denominator : float or scalar tensor
        C, sigma and the expected batch size.
    seed : tf.Tensor, shape (2,), int32
        The noise is drawn with stateless ops: the same seed gives the same noise, so
        a resumed run repeats its steps exactly.
    """
    out = []
    for index, total in enumerate(sums):
        # fold_in gives each variable its own stream: equal seeds would repeat the same draws.
        noise = tf.random.stateless_normal(tf.shape(total), seed=tf.random.experimental.stateless_fold_in(seed, index),
                                           stddev=noise_multiplier * clip_norm, dtype=total.dtype)
        out.append((total + noise) / denominator)
    return out


class DPTrainer:
    """The DP-SGD step of one model, with its own SGD-with-momentum optimizer.

    Parameters
    ----------
    model : keras.Model
        Outputs class probabilities; trained with categorical cross-entropy.
    optimizer : keras.optimizers.Optimizer, optional
        Default SGD with momentum :data:`MOMENTUM`.

    Attributes
    ----------
    step : callable
        ``step(x, y, example_weight, clip_norm, noise_multiplier, denominator, seed)``
        applies one private update; ``example_weight`` in [0, 1] scales each example's
        clipped gradient. The batch dimension is dynamic, so Poisson batches of any
        size run without retracing.
    """

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer | None = None):
        self.model = model
        self.optimizer = optimizer or keras.optimizers.SGD(0.01, momentum=MOMENTUM)
        self.optimizer.build(model.trainable_variables)
        self._start = [np.array(v.numpy()) for v in self.optimizer.variables]
        shape = tuple(model.input_shape[1:])
        classes = model.output_shape[-1]

        @tf.function(input_signature=[
            tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None, classes), tf.float32),
            tf.TensorSpec((None,), tf.float32), tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.float32),
            tf.TensorSpec((), tf.float32), tf.TensorSpec((2,), tf.int32)])
        def step(x, y, example_weight, clip_norm, noise_multiplier, denominator, seed):
            variables = model.trainable_variables

            def clipped_sum():
                clipped, _ = clip_per_example(per_example_gradients(model, x, y), clip_norm)
                # Weights in [0, 1] applied after clipping keep each example's share within C.
                return [tf.tensordot(example_weight, g, axes=1) for g in clipped]

            # Poisson sampling can draw an empty batch; the step still adds its noise, as
            # the accountant assumes, but vectorized_map cannot stack zero examples.
            sums = tf.cond(tf.shape(x)[0] > 0, clipped_sum,
                           lambda: [tf.zeros(v.shape, tf.float32) for v in variables])
            update = noisy_mean(sums, clip_norm, noise_multiplier, denominator, seed)
            self.optimizer.apply_gradients(zip(update, variables))

        # TensorFlow notes, once per conv layer while tracing, that Conv2DBackpropFilter runs
        # as a loop under vectorized_map: a note to its own developers (the speed is measured
        # in benchmarks/privacy_bench.py), not something a user can act on.
        with quiet_logger("tensorflow"):
            step.get_concrete_function()
        self.step = step

    def reset(self, learning_rate: float) -> None:
        """A fresh local optimizer (momentum zero, step count zero) at ``learning_rate``."""
        for variable, start in zip(self.optimizer.variables, self._start):
            variable.assign(start)
        self.optimizer.learning_rate.assign(learning_rate)


def dp_trainer(model: keras.Model) -> DPTrainer:
    """The process's :class:`DPTrainer` of ``model``, built on first use."""
    if model not in _TRAINERS:
        _TRAINERS[model] = DPTrainer(model)
    return _TRAINERS[model]


def poisson_batch(n: int, sampling_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of one Poisson-sampled batch: each of ``n`` examples in it with probability q."""
    return np.flatnonzero(rng.random(n) < sampling_rate)


class DPHospital(Hospital):
    """A hospital that trains with DP-SGD and reports the (epsilon, delta) it has spent so far.

    Parameters are those of :class:`fedcore.client.Hospital`; the config's ``dp_*``
    fields set the mechanism. With ``dp_target_epsilon`` the hospital solves, with
    dp-accounting, for the smallest noise multiplier that keeps its own epsilon after
    all ``rounds`` within the target: a small hospital (large q) needs more noise.

    Attributes
    ----------
    sampling_rate : float
        q = B / n.
    steps_per_round : int
        local_epochs * ceil(n / B).
    noise_multiplier : float
        sigma used at every step.
    """

    def __init__(self, data: HospitalData, built: BuiltModel, config: RunConfig, index: int):
        super().__init__(data, built, config, index)
        n = self.num_examples
        batch = min(config.batch_size, n)
        self.expected_batch = float(batch)
        self.sampling_rate = batch / n
        self.steps_per_round = config.local_epochs * math.ceil(n / batch)
        if config.dp_target_epsilon is not None:
            self.noise_multiplier = accounting.dp_sgd_noise_for_epsilon(
                config.dp_target_epsilon, self.sampling_rate, self.steps_per_round * config.rounds, config.dp_delta)
        else:
            self.noise_multiplier = config.dp_noise_multiplier
        # Class weights multiplied into the loss would be undone by clipping (most
        # examples are clipped, whatever their weight), leaving the model free to drift to
        # the majority class. Applied after clipping, scaled so the largest is 1, they keep
        # their ratio and no example exceeds C.
        weights = self._weights or {0: 1.0, 1: 1.0}
        top = max(weights.values())
        self._example_weight = np.array([weights[0] / top, weights[1] / top], np.float32)[
            data.train.labels.astype(int)]
        self._y = self._y_train.astype(np.float32)
        self._trainer = dp_trainer(built.model)

    def spent(self, server_round: int) -> dict:
        """The privacy this hospital has spent after ``server_round`` rounds, and how.

        Counts every round up to ``server_round`` as trained: an upper bound for a
        hospital that missed a round.
        """
        steps = self.steps_per_round * server_round
        return {
            "epsilon": accounting.dp_sgd_epsilon(self.noise_multiplier, self.sampling_rate, steps,
                                                 self.config.dp_delta),
            "delta": self.config.dp_delta,
            "noise_multiplier": self.noise_multiplier,
            "clip_norm": self.config.dp_clip_norm,
            "sampling_rate": self.sampling_rate,
            "steps": steps,
        }

    def fit(self, weights: list[np.ndarray], server_round: int, instructions: dict | None = None,
            should_stop: Callable[[], bool] | None = None) -> FitOutcome:
        """Train ``weights`` with DP-SGD for this round's steps; report the cumulative epsilon.

        See :meth:`fedcore.client.Hospital.fit` for the parameters. The outcome's
        ``train_loss`` is NaN: the loss on the training images is a statistic of the
        private data, and sending it would release it without noise.
        """
        self.built.model.set_weights(weights)
        self._trainer.reset((instructions or {}).get("learning_rate", self.config.lr))
        seed = local_seed(self.config.seed, server_round, self.index)
        self.built.reseed(seed)
        rng = np.random.default_rng(seed)
        constants = [tf.constant(v, tf.float32) for v in
                     (self.config.dp_clip_norm, self.noise_multiplier, self.expected_batch)]
        start = time.perf_counter()
        for step in range(self.steps_per_round):
            if should_stop and should_stop():
                raise LocalTrainingStopped(self.name)
            batch = poisson_batch(self.num_examples, self.sampling_rate, rng)
            self._trainer.step(self._x_train[batch], self._y[batch], self._example_weight[batch], *constants,
                               tf.constant([seed, step], tf.int32))
        seconds = time.perf_counter() - start
        return FitOutcome(self.built.model.get_weights(), self.num_examples,
                          {"train_loss": math.nan, "fit_seconds": seconds, **self.spent(server_round)})
