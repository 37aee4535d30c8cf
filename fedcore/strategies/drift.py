"""Strategies that correct client drift at the hospitals: FedProx and SCAFFOLD.

On non-IID hospitals each local model walks towards its own optimum during a round
(client drift); these send the hospitals something with the round's instructions that
holds their local steps back: a proximal weight (FedProx) or a control variate
(SCAFFOLD). The hospital side of both is the compiled local step (fedcore.hospital.local_step).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from fedcore.strategies.base import FedAvg, FitResult, NDArrays, aggregate, cosine_learning_rate

CONTROL_KEY = "scaffold_control"


def corrects_local_steps(mode: str, strategy: str, proximal_mu: float) -> bool:
    """Whether a run's hospitals take corrected local steps (FedProx with mu > 0, SCAFFOLD): only
    a federated run uses its strategy; centralized and local runs train plainly."""
    if mode != "federated":
        return False
    return strategy == "scaffold" or (strategy == "fedprox" and proximal_mu > 0)


class FedProx(FedAvg):
    """FedProx (Li et al., 2020, "Federated optimization in heterogeneous networks").

    Each hospital minimises its loss plus (mu / 2) ||w - w_global||^2; the server
    averages as FedAvg does. The hospitals apply the proximal gradient mu (w - w_global)
    as a step of the round's learning rate after each optimizer step.

    Parameters
    ----------
    mu : float, default 0.01
        The proximal weight (0 is FedAvg).
    """

    name = "fedprox"

    def __init__(self, learning_rate=None, rounds=None, mu: float = 0.01):
        super().__init__(learning_rate, rounds)
        self.mu = mu

    def configure_fit(self, server_round: int, global_weights: NDArrays) -> dict:
        """The learning rate, and ``proximal_mu`` (a scalar: Flower carries it too)."""
        return super().configure_fit(server_round, global_weights) | {"proximal_mu": self.mu}


def local_steps(num_examples: int, local_epochs: int, batch_size: int) -> int:
    """Optimizer steps a hospital with ``num_examples`` training images takes in one round."""
    return max(1, local_epochs * math.ceil(num_examples / batch_size))


def control_update(
    control: NDArrays,
    server_control: NDArrays,
    start: NDArrays,
    trained: NDArrays,
    steps: int,
    learning_rate: float,
) -> NDArrays:
    """SCAFFOLD's option II: c_i+ = c_i - c + (x - y_i) / (K lr), layer by layer, float32.

    Both sides compute it: the hospital for its own c_i, the server for the change
    c_i+ - c_i (with c_i = 0), so no control variate has to travel back. float32, the
    weights' own precision: float64 controls doubled what SCAFFOLD holds per model copy.
    """
    scale = np.float32(1.0 / (steps * learning_rate))
    return [
        np.asarray(ci, np.float32)
        - np.asarray(c, np.float32)
        + (np.asarray(x, np.float32) - np.asarray(y, np.float32)) * scale
        for ci, c, x, y in zip(control, server_control, start, trained)
    ]


def zero_control(weights: NDArrays) -> NDArrays:
    """A control variate of zeros shaped like ``weights`` (float32)."""
    return [np.zeros(np.shape(w), np.float32) for w in weights]


def mean_change(
    control: np.ndarray,
    start: np.ndarray,
    trained: Sequence[np.ndarray],
    steps: Sequence[int],
    learning_rate: float,
) -> np.ndarray:
    """One layer's mean_i Delta c_i over the hospitals that trained (control_update, c_i = 0)."""
    zero = np.zeros_like(control)
    return np.mean(
        [
            control_update([zero], [control], [start], [y], k, learning_rate)[0]
            for y, k in zip(trained, steps)
        ],
        axis=0,
    )


class Scaffold(FedAvg):
    """SCAFFOLD (Karimireddy et al., 2020, "SCAFFOLD: Stochastic controlled averaging for
    federated learning"), option II.

    The server keeps a control variate c, each hospital its own c_i. Every local step
    becomes y <- y - lr (g(y) - c_i + c): the hospital's step is corrected by how its
    gradient differs from everyone's. After the round, with K_i local steps,
    Delta c_i = (x - y_i) / (K_i lr) - c; the server moves
    x <- x + eta sum_k (n_k / N) (y_k - x) and c <- c + (|S| / N) mean_i Delta c_i.
    K_i follows from the example count, the local epochs and the batch size, so a
    hospital sends back only its weights. Local training uses Adam, so the correction
    is applied as a step of the round's learning rate after each Adam step (the
    decoupled form, as AdamW decouples weight decay).

    Parameters
    ----------
    client_learning_rate : float
        The hospitals' learning rate (decayed by the cosine schedule when ``rounds`` is set).
    hospitals : int
        N, the hospitals in the federation.
    local_epochs, batch_size : int
        Give each hospital's K_i.
    server_learning_rate : float, default 1.0
        eta.
    """

    name = "scaffold"
    keeps_state = True

    def __init__(
        self,
        client_learning_rate: float,
        rounds: int,
        hospitals: int,
        local_epochs: int,
        batch_size: int,
        cosine: bool = True,
        server_learning_rate: float = 1.0,
    ):
        super().__init__(client_learning_rate, rounds)
        self.hospitals, self.local_epochs, self.batch_size = hospitals, local_epochs, batch_size
        self.cosine, self.server_learning_rate = cosine, server_learning_rate
        self.control: NDArrays | None = None

    def round_learning_rate(self, server_round: int) -> float:
        """The hospitals' learning rate in ``server_round``."""
        if not self.cosine:
            return self.learning_rate
        return cosine_learning_rate(server_round, self.rounds, self.learning_rate)

    def configure_fit(self, server_round: int, global_weights: NDArrays) -> dict:
        """The learning rate and the server's control variate (arrays: in-process only)."""
        if self.control is None:
            self.control = zero_control(global_weights)
        return {"learning_rate": self.round_learning_rate(server_round), CONTROL_KEY: self.control}

    def aggregate_fit(
        self, server_round: int, results: Sequence[FitResult], global_weights: NDArrays
    ) -> NDArrays:
        """Step x along the weighted mean update; move c by the hospitals' control changes."""
        if self.control is None:
            self.configure_fit(server_round, global_weights)
        lr = self.round_learning_rate(server_round)
        steps = [local_steps(n, self.local_epochs, self.batch_size) for _, n in results]
        share = np.float32(len(results) / self.hospitals)
        # One layer at a time: every hospital's whole change at once is a model copy per hospital.
        changes = (
            mean_change(c, x, [weights[layer] for weights, _ in results], steps, lr)
            for layer, (c, x) in enumerate(zip(self.control, global_weights))
        )
        self.control = [c + share * d for c, d in zip(self.control, changes)]
        merged = aggregate(results)
        eta = self.server_learning_rate
        return [
            (np.asarray(g, np.float64) + eta * (np.asarray(m, np.float64) - g)).astype(g.dtype)
            for g, m in zip(global_weights, merged)
        ]

    def state(self) -> dict[str, NDArrays]:
        """The server's control variate."""
        return {} if self.control is None else {"c": self.control}

    def load_state(self, state: dict[str, NDArrays]) -> None:
        """Restore the server's control variate."""
        control = state.get("c")
        self.control = None if control is None else [np.asarray(c, np.float32) for c in control]
