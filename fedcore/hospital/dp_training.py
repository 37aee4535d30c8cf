"""Patient-level differential privacy at a hospital: DP-SGD (Abadi et al., 2016).

Each step (traced in fedcore.privacy.dp_step) draws a Poisson batch at q = B / n, clips every
example's gradient to L2 norm C, weights it by its class weight over the largest (at most 1, so
no example's share exceeds C), adds N(0, (sigma C)^2) to the sum and divides by the expected
batch B, not the drawn size, which would leak. SGD with momentum applies it, not Adam, whose
per-coordinate scaling would turn the noise into full-size random steps. A round is
``local_epochs * ceil(n / B)`` steps; epsilon composes every round's (docs/privacy.md).
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import tensorflow as tf

from fedcore.config.run_config import RunConfig
from fedcore.data import HospitalData
from fedcore.hospital.batches import class_weights, local_seed
from fedcore.hospital.training import Hospital, LocalTrainingStopped
from fedcore.model.networks import BuiltModel, trace_prediction
from fedcore.payload import FitOutcome
from fedcore.privacy import accounting
from fedcore.privacy.dp_step import dp_trainer, poisson_batch


class DPHospital(Hospital):
    """A hospital that trains with DP-SGD and reports the (epsilon, delta) it has spent so far.

    Parameters are those of :class:`fedcore.hospital.training.Hospital`; the config's ``dp_*``
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
        batch = min(config.batch, n)
        self.expected_batch = float(batch)
        self.sampling_rate = batch / n
        self.steps_per_round = config.epochs * math.ceil(n / batch)
        if config.dp_target_epsilon is not None:
            self.noise_multiplier = accounting.dp_sgd_noise_for_epsilon(
                config.dp_target_epsilon,
                self.sampling_rate,
                self.steps_per_round * config.rounds,
                config.dp_delta,
            )
        else:
            self.noise_multiplier = config.dp_noise_multiplier
        # Class weights multiplied into the loss would be undone by clipping, so they apply
        # after it, scaled so the largest is 1: they keep their ratio and no example exceeds C.
        # They apply even with balanced softmax, a prior this step's plain cross-entropy does
        # not take. Uncapped, unlike the plain hospitals': clipping already bounds every
        # example's share (docs/strategies.md, "Patient-level DP at epsilon 8").
        weights = (
            class_weights(data.train.labels, cap=math.inf)
            if config.class_weighting
            else {0: 1.0, 1: 1.0}
        )
        top = max(weights.values())
        self._example_weight = np.array([weights[0] / top, weights[1] / top], np.float32)[
            data.train.labels.astype(int)
        ]
        self._y = self._y_train.astype(np.float32)
        self._trainer = dp_trainer(built.model)

    def warm_up(self) -> None:
        """Trace the prediction before round 1; the DP-SGD step was traced when it was built."""
        trace_prediction(self.built.model)

    def spent(self, server_round: int) -> dict:
        """The privacy this hospital has spent after ``server_round`` rounds, and how.

        Counts every round up to ``server_round`` as trained: an upper bound for a
        hospital that missed a round.
        """
        steps = self.steps_per_round * server_round
        return {
            "epsilon": accounting.dp_sgd_epsilon(
                self.noise_multiplier, self.sampling_rate, steps, self.config.dp_delta
            ),
            "delta": self.config.dp_delta,
            "noise_multiplier": self.noise_multiplier,
            "clip_norm": self.config.dp_clip_norm,
            "sampling_rate": self.sampling_rate,
            "steps": steps,
        }

    def fit(
        self,
        weights: list[np.ndarray],
        server_round: int,
        instructions: dict | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> FitOutcome:
        """Train ``weights`` with DP-SGD for this round's steps; report the cumulative epsilon.

        See :meth:`fedcore.hospital.training.Hospital.fit` for the parameters. The outcome's
        ``train_loss`` is NaN: the loss on the training images is a statistic of the
        private data, and sending it would release it without noise.
        """
        self.built.model.set_weights(weights)
        self._trainer.reset((instructions or {}).get("learning_rate", self.config.lr))
        seed = local_seed(self.config.seed, server_round, self.index)
        self.built.reseed(seed)
        rng = np.random.default_rng(seed)
        constants = [
            tf.constant(v, tf.float32)
            for v in (self.config.dp_clip_norm, self.noise_multiplier, self.expected_batch)
        ]
        start = time.perf_counter()
        for step in range(self.steps_per_round):
            if should_stop and should_stop():
                raise LocalTrainingStopped(self.name)
            batch = poisson_batch(self.num_examples, self.sampling_rate, rng)
            self._trainer.step(
                self._x_train[batch],
                self._y[batch],
                self._example_weight[batch],
                *constants,
                tf.constant([seed, step], tf.int32),
            )
        seconds = time.perf_counter() - start
        return FitOutcome(
            self.built.model.get_weights(),
            self.num_examples,
            {"train_loss": math.nan, "fit_seconds": seconds, **self.spent(server_round)},
        )
