"""Server optimizers: the server steps along the hospitals' mean update instead of taking it as is.

With Delta_t = sum_k (n_k / N) (w_k - w_t), the example-weighted mean update of round t
(the negative "pseudo-gradient" of Reddi et al.), FedAvg sets w_{t+1} = w_t + Delta_t;
these keep moments of Delta across rounds. On non-IID hospitals the mean update points
a different way each round; momentum and per-coordinate scaling smooth that out.
The moments are the strategy's state: checkpointed with the run (``state``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fedcore.strategies.base import FedAvg, FitResult, NDArrays, mean_update


class FedAvgM(FedAvg):
    """FedAvg with server momentum (Hsu, Qi and Brown, 2019, "Measuring the effects of
    non-identical data distribution for federated visual classification").

    m_t = beta m_{t-1} + Delta_t;  w_{t+1} = w_t + eta m_t.

    Parameters
    ----------
    server_learning_rate : float, default 1.0
        eta.
    momentum : float, default 0.9
        beta.
    """

    name = "fedavgm"
    keeps_state = True

    def __init__(
        self,
        learning_rate=None,
        rounds=None,
        server_learning_rate: float = 1.0,
        momentum: float = 0.9,
    ):
        super().__init__(learning_rate, rounds)
        self.server_learning_rate, self.momentum = server_learning_rate, momentum
        self.m: NDArrays | None = None

    def aggregate_fit(
        self, server_round: int, results: Sequence[FitResult], global_weights: NDArrays
    ) -> NDArrays:
        """w + eta (beta m + Delta)."""
        delta = mean_update(results, global_weights)
        self.m = delta if self.m is None else [self.momentum * m + d for m, d in zip(self.m, delta)]
        return [
            (np.asarray(g, np.float64) + self.server_learning_rate * m).astype(g.dtype)
            for g, m in zip(global_weights, self.m)
        ]

    def state(self) -> dict[str, NDArrays]:
        """The momentum, once a round has made one."""
        return {} if self.m is None else {"m": self.m}

    def load_state(self, state: dict[str, NDArrays]) -> None:
        """Restore the momentum."""
        self.m = state.get("m")


class FedAdam(FedAvg):
    """Adaptive server optimizer (Reddi et al., 2021, "Adaptive Federated Optimization", Alg. 2).

    m_t = beta1 m_{t-1} + (1 - beta1) Delta_t;
    v_t = beta2 v_{t-1} + (1 - beta2) Delta_t^2          (FedAdam);
    w_{t+1} = w_t + eta m_t / (sqrt(v_t) + tau).

    As in the paper (and Flower), m and v start at zero with no bias correction.

    Parameters
    ----------
    server_learning_rate : float, default 0.01
        eta.
    beta1, beta2 : float, default 0.9, 0.99
    tau : float, default 1e-3
        The adaptivity: how small a second moment still scales a coordinate up.
    """

    name = "fedadam"
    keeps_state = True

    def __init__(
        self,
        learning_rate=None,
        rounds=None,
        server_learning_rate: float = 0.01,
        beta1: float = 0.9,
        beta2: float = 0.99,
        tau: float = 1e-3,
    ):
        super().__init__(learning_rate, rounds)
        self.server_learning_rate, self.beta1, self.beta2, self.tau = (
            server_learning_rate,
            beta1,
            beta2,
            tau,
        )
        self.m: NDArrays | None = None
        self.v: NDArrays | None = None

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Adam's v update."""
        return self.beta2 * v + (1 - self.beta2) * delta**2

    def aggregate_fit(
        self, server_round: int, results: Sequence[FitResult], global_weights: NDArrays
    ) -> NDArrays:
        """w + eta m / (sqrt(v) + tau), after updating m and v with this round's Delta."""
        delta = mean_update(results, global_weights)
        if self.m is None:
            self.m, self.v = [np.zeros_like(d) for d in delta], [np.zeros_like(d) for d in delta]
        self.m = [self.beta1 * m + (1 - self.beta1) * d for m, d in zip(self.m, delta)]
        self.v = [self.second_moment(v, d) for v, d in zip(self.v, delta)]
        return [
            (
                np.asarray(g, np.float64) + self.server_learning_rate * m / (np.sqrt(v) + self.tau)
            ).astype(g.dtype)
            for g, m, v in zip(global_weights, self.m, self.v)
        ]

    def state(self) -> dict[str, NDArrays]:
        """Both moments, once a round has made them."""
        return {} if self.m is None else {"m": self.m, "v": self.v}

    def load_state(self, state: dict[str, NDArrays]) -> None:
        """Restore both moments."""
        self.m, self.v = state.get("m"), state.get("v")


class FedYogi(FedAdam):
    """FedAdam with Yogi's additive second moment (Reddi et al., 2021; Zaheer et al., 2018):
    v_t = v_{t-1} - (1 - beta2) Delta_t^2 sign(v_{t-1} - Delta_t^2), which grows v slowly
    and never lets one large round shrink the step for good."""

    name = "fedyogi"

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Yogi's v update."""
        squared = delta**2
        return v - (1 - self.beta2) * squared * np.sign(v - squared)
