"""Hospital side: train the global weights on this hospital's own images; evaluate weights here.

What leaves a hospital is a :class:`fedcore.payload.FitOutcome` (weights, number of examples, a few
training figures) or a metrics dict: never images or labels. The in-process engine and
the Flower ClientApp both use this class.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import keras
import numpy as np

from fedcore.config.run_config import RunConfig
from fedcore.data import HospitalData, Split, to_model_input
from fedcore.hospital.batches import batch_plan, class_weights, local_seed
from fedcore.hospital.local_step import local_trainer
from fedcore.model.balanced_loss import label_shares
from fedcore.model.networks import BuiltModel, predict_pneumonia, trace_prediction
from fedcore.payload import FitOutcome
from fedcore.results.operating_point import TEST_COUNT_PREFIX, scored, threshold_counts
from fedcore.strategies.drift import (
    CONTROL_KEY,
    control_update,
    corrects_local_steps,
    zero_control,
)


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
        Uses local_epochs, batch_size, rare_class_share, class_weighting, balanced_softmax,
        threshold, seed.
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
        self._y_train = keras.utils.to_categorical(data.train.labels, 2).astype(np.float32)
        self._prior = label_shares(data.train.labels) if config.balanced_softmax else None
        weighted = config.class_weighting and not config.balanced_softmax
        self._weights = class_weights(data.train.labels) if weighted else None
        weights = self._weights or {0: 1.0, 1: 1.0}
        self._sample_weight = np.array([weights[0], weights[1]], np.float32)[
            data.train.labels.astype(int)
        ]
        self._eval_inputs: dict[str, np.ndarray] = {}
        # SCAFFOLD's c_i: this hospital's own control variate, kept here between rounds.
        self.control: list[np.ndarray] | None = None
        # FedBN (Li et al. 2021): the weights it last trained, whose normalisation entries it
        # keeps in place of the global ones (None until it has trained).
        self.local: list[np.ndarray] | None = None
        self._kept = built.norm_slots if config.normalization == "fedbn" else ()
        # A moving statistic is not a gradient step and a kept entry is not the federation's:
        # SCAFFOLD corrects neither.
        self._uncorrected = set(self._kept) | set(built.statistic_slots)

    @property
    def num_examples(self) -> int:
        """Training images held here."""
        return len(self.data.train)

    def fit(
        self,
        weights: list[np.ndarray],
        server_round: int,
        instructions: dict | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> FitOutcome:
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
            Polled before every batch.

        Raises
        ------
        LocalTrainingStopped
            When ``should_stop`` became true mid-epoch.
        """
        instructions = instructions or {}
        weights = self.own(weights)
        trainer = local_trainer(self.built.model)
        seed = local_seed(self.config.seed, server_round, self.index)
        lr = float(instructions.get("learning_rate", self.config.lr))
        self.built.model.loss.set_prior(self._prior)
        self.built.reseed(seed)
        trainer.start(
            weights,
            lr,
            float(instructions.get("proximal_mu", 0.0)),
            self._control_shift(weights, instructions.get(CONTROL_KEY), lr),
        )
        order_rng = np.random.default_rng(seed)
        start, steps = time.perf_counter(), 0
        for _ in range(self.config.epochs):
            # Seeded per (run seed, round, hospital): a resumed run repeats the order exactly.
            losses, sizes = [], []
            plan = batch_plan(
                self.data.train.labels,
                self.config.batch,
                self.config.rare_class_share,
                order_rng,
            )
            for chosen, factor in plan:
                if should_stop and should_stop():
                    raise LocalTrainingStopped(self.name)
                losses.append(
                    trainer.step(
                        self._x_train[chosen],
                        self._y_train[chosen],
                        self._sample_weight[chosen] * factor,
                    )
                )
                sizes.append(len(chosen))
                steps += 1
        trained = trainer.trained_weights()
        seconds = time.perf_counter() - start
        if self._kept:
            self.local = trained
        if CONTROL_KEY in instructions:
            self.control = control_update(
                self.control, instructions[CONTROL_KEY], weights, trained, steps, lr
            )
        # The last epoch's mean loss over its images, as Keras' fit reports it.
        loss = float(np.average([float(x) for x in losses], weights=sizes)) if losses else math.nan
        return FitOutcome(trained, self.num_examples, {"train_loss": loss, "fit_seconds": seconds})

    def _control_shift(
        self, weights: list[np.ndarray], server_control: list[np.ndarray] | None, lr: float
    ) -> list[np.ndarray] | None:
        """SCAFFOLD's per-step shift lr (c - c_i) in float32, or None without a server control."""
        if server_control is None:
            return None
        if self.control is None:
            self.control = zero_control(weights)
        return [
            np.zeros(np.shape(c), np.float32)
            if i in self._uncorrected
            else np.float32(lr) * (np.asarray(c, np.float32) - np.asarray(ci, np.float32))
            for i, (c, ci) in enumerate(zip(server_control, self.control))
        ]

    def warm_up(self) -> None:
        """Trace and run once this hospital's local step and prediction before round 1 (every
        weight is put back), so that round 1 is not slower than the rounds after it."""
        config = self.config
        corrected = corrects_local_steps(config.mode, config.strategy, config.proximal_mu)
        local_trainer(self.built.model).warm_up(corrected)
        trace_prediction(self.built.model)

    def own(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        """``weights`` with this hospital's own normalisation entries under FedBN (``weights``
        itself when it keeps none or has not trained yet)."""
        if self.local is None or not self._kept:
            return weights
        kept = set(self._kept)
        return [self.local[i] if i in kept else w for i, w in enumerate(weights)]

    def inputs(self, split: str) -> np.ndarray:
        """This hospital's ``split`` images as model input (converted once, then kept)."""
        if split not in self._eval_inputs:
            self._eval_inputs[split] = to_model_input(getattr(self.data, split).images)
        return self._eval_inputs[split]

    def evaluate(
        self, weights: list[np.ndarray], split: str = "test", operating_point: dict | None = None
    ) -> dict:
        """Binary metrics of ``weights`` on one of this hospital's splits (and at an operating
        point, if given), with its own normalisation under FedBN."""
        self.built.model.set_weights(self.own(weights))
        return self.scored(
            split, predict_pneumonia(self.built.model, self.inputs(split)), operating_point
        )

    def scored(self, split: str, scores: np.ndarray, operating_point: dict | None = None) -> dict:
        """:meth:`evaluate`'s metrics from scores already predicted (for many hospitals at once)."""
        data: Split = getattr(self.data, split)
        return scored(
            data.labels,
            scores,
            self.config.threshold,
            operating_point,
            f"{self.name} ({split} set)",
        )

    def validation_counts(self, weights: list[np.ndarray]) -> dict:
        """Confusion counts of ``weights`` on the validation images at every grid threshold: only
        counts leave; the server sums them to choose the operating point."""
        self.built.model.set_weights(weights)
        return self.counts(predict_pneumonia(self.built.model, self.inputs("val")))

    def counts(self, scores: np.ndarray) -> dict:
        """:meth:`validation_counts` from the model's scores on the validation images."""
        return threshold_counts(self.data.val.labels, scores)

    def evaluate_report(self, weights: list[np.ndarray]) -> dict:
        """:meth:`test_report` of ``weights`` (with its own normalisation under FedBN): a Flower
        hospital's answer to the evaluation."""
        self.built.model.set_weights(self.own(weights))
        return self.test_report(predict_pneumonia(self.built.model, self.inputs("test")))

    def test_report(self, scores: np.ndarray) -> dict:
        """Test metrics at the fixed threshold, and test counts over the grid from which the
        server reads this hospital at the threshold it chooses."""
        return self.scored("test", scores) | threshold_counts(
            self.data.test.labels, scores, prefix=TEST_COUNT_PREFIX
        )
