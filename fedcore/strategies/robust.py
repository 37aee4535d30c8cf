"""Robust aggregation: a few hospitals sending arbitrary updates cannot move the global model far.

FedAvg's mean moves as far as any one hospital pushes it (a hospital sending its update
times -10 drags the mean with it). These take, per coordinate or per update, what the
majority agrees on. They ignore example counts, as the papers do: a count is just
another thing an attacker could inflate. Pure numpy over the flattened updates.

Each keeps ``last_report``: what it did with each update in the last round, by the update's
position in the results (Krum: its score and whether it was kept; trimmed mean: the share of
its coordinates cut), which the server records with the round's fit facts.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fedcore.errors import FedXrayError
from fedcore.strategies.base import FedAvg, FitResult, NDArrays, flatten, unflatten, updates_of


class _Robust(FedAvg):
    """Shared: flatten the updates, combine them into one, add it to the global weights."""

    last_report: list[dict] = []

    def combine(self, updates: np.ndarray) -> np.ndarray:
        """One update from the (hospitals, parameters) matrix."""
        raise NotImplementedError

    def aggregate_fit(
        self, server_round: int, results: Sequence[FitResult], global_weights: NDArrays
    ) -> NDArrays:
        """w + combine(updates)."""
        updates = np.stack(updates_of(results, global_weights))
        return unflatten(flatten(global_weights) + self.combine(updates), global_weights)


class Median(_Robust):
    """Coordinate-wise median of the updates (Yin et al., 2018, "Byzantine-robust distributed
    learning: towards optimal statistical rates"). Holds while fewer than half the
    hospitals misbehave."""

    name = "median"

    def combine(self, updates: np.ndarray) -> np.ndarray:
        """The median of each coordinate over the hospitals."""
        return np.median(updates, axis=0)


class TrimmedMean(_Robust):
    """Coordinate-wise trimmed mean (Yin et al., 2018): per coordinate, drop the
    ``floor(beta n)`` largest and smallest values and average the rest.

    Parameters
    ----------
    beta : float, default 0.2
        Share cut at each end, in [0, 0.5).
    """

    name = "trimmed-mean"

    def __init__(self, learning_rate=None, rounds=None, beta: float = 0.2):
        super().__init__(learning_rate, rounds)
        self.beta = beta

    def combine(self, updates: np.ndarray) -> np.ndarray:
        """The mean of each coordinate's middle values."""
        cut = int(np.floor(self.beta * len(updates)))
        ordered = np.sort(updates, axis=0)
        # Each update's rank per coordinate: those below ``cut`` or from n - cut up are cut.
        ranks = np.argsort(np.argsort(updates, axis=0, kind="stable"), axis=0, kind="stable")
        cut_share = ((ranks < cut) | (ranks >= len(updates) - cut)).mean(axis=1)
        self.last_report = [{"trimmed_share": float(s)} for s in cut_share]
        return ordered[cut : len(updates) - cut].mean(axis=0)


class Krum(_Robust):
    """Krum and multi-Krum (Blanchard et al., 2017, "Machine learning with adversaries:
    Byzantine tolerant gradient descent").

    Each update is scored by the sum of squared distances to its n - f - 2 nearest
    others; the ``select`` lowest-scoring updates are averaged (1: Krum). An outlier is
    far from everyone, so it scores high and is left out.

    Parameters
    ----------
    byzantine : int, default 1
        f, the hospitals that may misbehave; needs n - f - 2 >= 1.
    select : int, default 1
        m, the updates averaged.
    """

    name = "krum"

    def __init__(self, learning_rate=None, rounds=None, byzantine: int = 1, select: int = 1):
        super().__init__(learning_rate, rounds)
        self.byzantine, self.select = byzantine, select
        self.last_selected: list[int] = []

    def scores(self, updates: np.ndarray) -> np.ndarray:
        """Each update's sum of squared distances to its n - f - 2 nearest neighbours."""
        n = len(updates)
        neighbours = n - self.byzantine - 2
        if neighbours < 1:
            raise FedXrayError(
                f"krum with {n} hospital update(s) and krum-byzantine {self.byzantine} has no "
                "neighbours to compare (it needs hospitals >= krum-byzantine + 3): lower "
                "--krum-byzantine or train with more hospitals"
            )
        squared = (updates**2).sum(axis=1)
        distances = np.maximum(squared[:, None] + squared[None, :] - 2 * updates @ updates.T, 0.0)
        np.fill_diagonal(distances, np.inf)
        return np.sort(distances, axis=1)[:, :neighbours].sum(axis=1)

    def combine(self, updates: np.ndarray) -> np.ndarray:
        """The mean of the ``select`` updates with the lowest scores."""
        scores = self.scores(updates)
        chosen = np.argsort(scores, kind="stable")[: min(self.select, len(updates))]
        self.last_selected = sorted(int(i) for i in chosen)
        self.last_report = [
            {"krum_score": float(s), "krum_kept": int(i in self.last_selected)}
            for i, s in enumerate(scores)
        ]
        return updates[chosen].mean(axis=0)
