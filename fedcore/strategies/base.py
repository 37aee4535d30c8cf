"""What every strategy shares: the FedAvg mean, the Strategy interface, FedAvg itself.

A strategy turns the hospitals' results of one round into the next global weights.
FedAvg is the base; the others (fedcore.strategies) slot in behind the same two
methods, plus ``state``/``load_state`` for those that carry state from round to round
(server moments, control variates), which the run's checkpoint keeps so that a resumed
run equals an uninterrupted one. Pure numpy, no Keras, no I/O. Privacy mechanisms
wrap a strategy rather than living inside it.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

NDArrays = list[np.ndarray]
FitResult = tuple[NDArrays, int]


def aggregate(results: Sequence[FitResult]) -> NDArrays:
    """FedAvg: W = sum_k (n_k / N) W_k, layer by layer.

    Parameters
    ----------
    results : sequence of (weights, num_examples)
        Each hospital's weights (one array per model variable, the same shapes for
        every hospital) and how many training examples produced them.

    Returns
    -------
    list of np.ndarray
        The example-weighted mean, in each layer's original dtype.
    """
    if not results:
        raise ValueError("nothing to aggregate: no hospital returned weights")
    counts = np.array([n for _, n in results], dtype=np.float64)
    if (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(
            f"example counts must be non-negative with a positive total, got {counts.tolist()}"
        )
    shares = counts / counts.sum()
    first = results[0][0]
    for weights, _ in results[1:]:
        if len(weights) != len(first) or any(a.shape != b.shape for a, b in zip(weights, first)):
            raise ValueError(
                "hospitals returned weights of different shapes: they are not the same model"
            )
    merged = []
    for layer in range(len(first)):
        dtype = first[layer].dtype
        # Accumulate in place into one buffer: three 20 M-parameter sets stay under 100 ms.
        acc = np.multiply(
            results[0][0][layer], shares[0], dtype=np.float64 if dtype.kind != "f" else dtype
        )
        for (weights, _), share in zip(results[1:], shares[1:]):
            acc += weights[layer] * acc.dtype.type(share)
        merged.append(acc.astype(dtype, copy=False))
    return merged


def mean_update(results: Sequence[FitResult], global_weights: NDArrays) -> NDArrays:
    """The example-weighted mean of the hospitals' updates w_k - w_global, in float64.

    Reddi et al. (2021) call it the pseudo-gradient (with the opposite sign): server
    optimizers step along it.
    """
    merged = aggregate(results)
    return [
        np.asarray(m, np.float64) - np.asarray(g, np.float64)
        for m, g in zip(merged, global_weights)
    ]


def updates_of(results: Sequence[FitResult], global_weights: NDArrays) -> list[np.ndarray]:
    """Each hospital's update w_k - w_global, flattened into one float64 row."""
    if not results:
        raise ValueError("nothing to aggregate: no hospital returned weights")
    flat_global = flatten(global_weights)
    rows = []
    for weights, _ in results:
        if len(weights) != len(global_weights) or any(
            a.shape != b.shape for a, b in zip(weights, global_weights)
        ):
            raise ValueError(
                "hospitals returned weights of different shapes: they are not the same model"
            )
        rows.append(flatten(weights) - flat_global)
    return rows


def flatten(weights: NDArrays) -> np.ndarray:
    """All layers as one float64 vector."""
    return (
        np.concatenate([np.asarray(w, np.float64).ravel() for w in weights])
        if weights
        else np.zeros(0)
    )


def unflatten(vector: np.ndarray, like: NDArrays) -> NDArrays:
    """``vector`` cut back into arrays shaped (and typed) as ``like``."""
    out, start = [], 0
    for w in like:
        out.append(vector[start : start + w.size].reshape(w.shape).astype(w.dtype))
        start += w.size
    return out


class Strategy(Protocol):
    """What the server asks of an aggregation strategy."""

    name: str
    # Whether :meth:`state` carries anything between rounds: a resume without it is not exact.
    keeps_state: bool

    def configure_fit(self, server_round: int, global_weights: NDArrays) -> dict:
        """Per-round instructions sent to the hospitals with the global weights."""

    def aggregate_fit(
        self, server_round: int, results: Sequence[FitResult], global_weights: NDArrays
    ) -> NDArrays:
        """The next global weights from this round's results."""

    def state(self) -> dict[str, NDArrays]:
        """What the strategy carries between rounds, as named array lists (empty when nothing)."""

    def load_state(self, state: dict[str, NDArrays]) -> None:
        """Continue from :meth:`state` as saved with a checkpoint."""


def cosine_learning_rate(
    server_round: int, rounds: int, start: float, end_fraction: float = 0.1
) -> float:
    """Client learning rate for a round: cosine decay from ``start`` to ``start * end_fraction``.

    Large early steps learn fast; small late steps stop non-IID hospitals from pulling
    the average back and forth in the final rounds.
    """
    if rounds <= 1:
        return start
    t = (server_round - 1) / (rounds - 1)
    end = start * end_fraction
    return float(end + 0.5 * (start - end) * (1.0 + np.cos(np.pi * t)))


class FedAvg:
    """Federated averaging (McMahan et al., 2017), weighted by example counts.

    Parameters
    ----------
    learning_rate : float, optional
        Clients' starting learning rate; with ``rounds`` it is decayed by
        :func:`cosine_learning_rate` and sent with each round's instructions.
    rounds : int, optional
        Rounds of the run.
    """

    name = "fedavg"
    keeps_state = False

    def __init__(self, learning_rate: float | None = None, rounds: int | None = None):
        self.learning_rate = learning_rate
        self.rounds = rounds

    def configure_fit(self, server_round: int, global_weights: NDArrays) -> dict:
        """The round's client learning rate, when a schedule is set."""
        if self.learning_rate is None or self.rounds is None:
            return {}
        return {
            "learning_rate": cosine_learning_rate(server_round, self.rounds, self.learning_rate)
        }

    def aggregate_fit(
        self, server_round: int, results: Sequence[FitResult], global_weights: NDArrays
    ) -> NDArrays:
        """Example-weighted mean of the hospitals' weights (:func:`aggregate`)."""
        return aggregate(results)

    def state(self) -> dict[str, NDArrays]:
        """FedAvg keeps nothing between rounds."""
        return {}

    def load_state(self, state: dict[str, NDArrays]) -> None:
        """Nothing to restore."""
