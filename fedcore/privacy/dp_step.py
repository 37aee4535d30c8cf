"""One DP-SGD step on the process's compiled model: per-example gradients, clipping, noise.

The TensorFlow half of fedcore.hospital.dp_training's recipe, traced once per model; that
module drives it (sampling, accounting, the round).
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from fedcore.quiet import quiet_logger

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
            loss = keras.losses.categorical_crossentropy(yi[None], model(xi[None], training=True))[
                0
            ]
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


def noisy_mean(
    sums: list[tf.Tensor], clip_norm, noise_multiplier, denominator, seed: tf.Tensor
) -> list[tf.Tensor]:
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
        noise = tf.random.stateless_normal(
            tf.shape(total),
            seed=tf.random.experimental.stateless_fold_in(seed, index),
            stddev=noise_multiplier * clip_norm,
            dtype=total.dtype,
        )
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

        @tf.function(
            input_signature=[
                tf.TensorSpec((None, *shape), tf.float32),
                tf.TensorSpec((None, classes), tf.float32),
                tf.TensorSpec((None,), tf.float32),
                tf.TensorSpec((), tf.float32),
                tf.TensorSpec((), tf.float32),
                tf.TensorSpec((), tf.float32),
                tf.TensorSpec((2,), tf.int32),
            ]
        )
        def step(x, y, example_weight, clip_norm, noise_multiplier, denominator, seed):
            variables = model.trainable_variables

            def clipped_sum():
                clipped, _ = clip_per_example(per_example_gradients(model, x, y), clip_norm)
                # Weights in [0, 1] applied after clipping keep each example's share within C.
                return [tf.tensordot(example_weight, g, axes=1) for g in clipped]

            # Poisson sampling can draw an empty batch; the step still adds its noise, as
            # the accountant assumes, but vectorized_map cannot stack zero examples.
            sums = tf.cond(
                tf.shape(x)[0] > 0,
                clipped_sum,
                lambda: [tf.zeros(v.shape, tf.float32) for v in variables],
            )
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
