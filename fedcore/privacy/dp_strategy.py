"""Hospital-level differential privacy: a wrapper that feeds any strategy a Gaussian mechanism.

The original design's "noise on the weights" (DP-FedAvg, McMahan et al., 2018), with a
fixed denominator. Each round, for K hospitals in the federation:

1. each hospital's update u_k = w_k - w_global is scaled to L2 norm at most C
   (over all layers together);
2. the clipped updates are averaged without weighting, over the K hospitals of the
   federation (a fixed denominator: a hospital missing from the round adds zero);
3. Gaussian noise N(0, (sigma C / K)^2) is added to every coordinate of the mean;
4. the wrapped strategy receives ``w_global + noisy mean`` as the round's only result.

One hospital changes the mean by at most C / K (add-or-remove adjacency), so step 3 is a
Gaussian mechanism of noise multiplier sigma, accounted over the rounds by
fedcore.privacy.accounting; whatever the wrapped strategy then does is post-processing.
Unweighted, since weighting by example counts would raise the sensitivity to (n_max / N) C.
The server still sees every raw update: this protects what it releases, not the updates from
it (docs/privacy.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fedcore.privacy import accounting
from fedcore.strategies import FitResult, NDArrays, Strategy


def update_norm(update: NDArrays) -> float:
    """L2 norm of a list of arrays taken as one flat vector."""
    return float(np.sqrt(sum(float(np.sum(np.square(u, dtype=np.float64))) for u in update)))


def clip_update(update: NDArrays, clip_norm: float) -> tuple[NDArrays, float]:
    """Scale ``update`` (all layers together) to L2 norm at most ``clip_norm``.

    Returns
    -------
    clipped : list of np.ndarray
        float64 arrays, ``update * min(1, C / ||update||)``.
    norm : float
        The norm before clipping.
    """
    norm = update_norm(update)
    factor = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return [np.asarray(u, np.float64) * factor for u in update], norm


def noisy_mean(
    updates: Sequence[NDArrays],
    hospitals: int,
    clip_norm: float,
    noise_multiplier: float,
    rng: np.random.Generator,
) -> NDArrays:
    """sum_k clip(u_k) / K + N(0, (sigma C / K)^2) per coordinate.

    Parameters
    ----------
    updates : sequence of list of np.ndarray
        This round's updates (weights minus global weights), unclipped.
    hospitals : int
        K, the federation's hospitals (the fixed denominator), at least ``len(updates)``.
    clip_norm, noise_multiplier : float
        C and sigma.
    rng : np.random.Generator
        The noise source.

    Returns
    -------
    list of np.ndarray
        float64 arrays, shaped as the updates.
    """
    if len(updates) > hospitals:
        raise ValueError(f"{len(updates)} updates from a federation of {hospitals} hospitals")
    clipped = [clip_update(u, clip_norm)[0] for u in updates]
    std = noise_multiplier * clip_norm / hospitals
    return [
        sum(c[layer] for c in clipped) / hospitals + rng.normal(0.0, std, clipped[0][layer].shape)
        for layer in range(len(clipped[0]))
    ]


class DPFedAvg:
    """Hospital-level DP around a strategy: clip each update, average over K, add Gaussian noise.

    Parameters
    ----------
    strategy : Strategy
        The wrapped strategy; it configures the rounds and receives the noisy result.
    hospitals : int
        K, the hospitals in the federation.
    noise_multiplier : float
        sigma; the noise std on the mean is sigma * C / K.
    clip_norm : float
        C, the L2 bound on one hospital's update (weight units).
    delta : float, default 1e-5
        The delta at which epsilon is reported.
    seed : int, optional
        Seeds the noise by round, so a resumed run repeats it; None draws fresh
        entropy from the operating system (what a deployment should do).
    """

    def __init__(
        self,
        strategy: Strategy,
        hospitals: int,
        noise_multiplier: float,
        clip_norm: float,
        delta: float = accounting.DEFAULT_DELTA,
        seed: int | None = None,
    ):
        self.inner = strategy
        self.name = f"dp-{strategy.name}"
        self.hospitals = hospitals
        self.noise_multiplier = noise_multiplier
        self.clip_norm = clip_norm
        self.delta = delta
        self.seed = seed
        self.last_update_norms: list[float] = []
        self.keeps_state = strategy.keeps_state

    def configure_fit(self, server_round: int, global_weights: NDArrays) -> dict:
        """The wrapped strategy's instructions."""
        return self.inner.configure_fit(server_round, global_weights)

    def aggregate_fit(
        self, server_round: int, results: Sequence[FitResult], global_weights: NDArrays
    ) -> NDArrays:
        """The wrapped strategy's aggregate of ``global + noisy mean of clipped updates``.

        Example counts in ``results`` are ignored (see the module docstring). The raw
        update norms are kept in ``last_update_norms`` for tuning C; they are not private.
        """
        if not results:
            raise ValueError("nothing to aggregate: no hospital returned weights")
        updates = [
            [np.asarray(w, np.float64) - g for w, g in zip(weights, global_weights)]
            for weights, _ in results
        ]
        self.last_update_norms = [update_norm(u) for u in updates]
        rng = np.random.default_rng(None if self.seed is None else [self.seed, server_round])
        mean = noisy_mean(updates, self.hospitals, self.clip_norm, self.noise_multiplier, rng)
        private = [(g + m).astype(g.dtype) for g, m in zip(global_weights, mean)]
        # One result carrying the round's total count: SCAFFOLD derives its local steps from it.
        return self.inner.aggregate_fit(
            server_round, [(private, sum(n for _, n in results))], global_weights
        )

    def state(self) -> dict:
        """The wrapped strategy's state (the noise is seeded by round, so it needs none)."""
        return self.inner.state()

    def load_state(self, state: dict) -> None:
        """Restore the wrapped strategy's state."""
        self.inner.load_state(state)

    def spent(self, server_round: int) -> dict:
        """Each hospital's epsilon at ``delta`` after ``server_round`` rounds, and the mechanism."""
        return {
            "epsilon": accounting.gaussian_rounds_epsilon(
                self.noise_multiplier, server_round, self.delta
            ),
            "delta": self.delta,
            "noise_multiplier": self.noise_multiplier,
            "clip_norm": self.clip_norm,
        }
