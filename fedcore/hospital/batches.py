"""What one hospital's local training draws: class weights, each epoch's batches, the seed."""

from __future__ import annotations

import numpy as np

# A hospital with a handful of NORMAL images would otherwise weight each of them by
# hundreds; the cap keeps one image from dominating the local update.
MAX_CLASS_WEIGHT = 10.0


def class_weights(labels: np.ndarray, cap: float = MAX_CLASS_WEIGHT) -> dict[int, float]:
    """Balanced class weights n / (2 n_c) from a hospital's own labels, capped at ``cap``."""
    labels = np.asarray(labels).ravel()
    n = len(labels)
    return {c: float(min(cap, n / (2 * max(1, int((labels == c).sum()))))) for c in (0, 1)}


def batch_plan(
    labels: np.ndarray, batch_size: int, rare_share: float, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One epoch's batches as (image indices, loss-weight factors), the rarer class in every batch.

    A hospital with a few NORMAL images among thousands would otherwise see NORMAL-free batches,
    whose gradients all point to PNEUMONIA, at Adam's full step size. With its rarer class under
    ``rare_share`` of its images, every batch holds round(rare_share * size) of them (at least
    one), and each image's loss is weighted by its class's share of the hospital over its share
    of the batch, so a batch stays an unbiased estimate of the hospital's loss. Same number of
    batches and images; with plain shuffling it draws exactly ``rng.permutation(n)``.

    Returns
    -------
    list of (np.ndarray, np.ndarray)
        Each batch's indices into ``labels`` and float32 loss-weight factors.
    """
    labels = np.asarray(labels).astype(int).ravel()
    n = len(labels)
    counts = np.bincount(labels, minlength=2)
    rare = int(np.argmin(counts))
    if not rare_share or counts[rare] == 0 or counts[rare] >= rare_share * n:
        order = rng.permutation(n)
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        return [(chosen, np.ones(len(chosen), np.float32)) for chosen in batches]
    pools = [np.flatnonzero(labels == c) for c in (0, 1)]
    queues = [np.zeros(0, int), np.zeros(0, int)]

    def draw(c: int, k: int) -> np.ndarray:
        while len(queues[c]) < k:
            queues[c] = np.concatenate([queues[c], rng.permutation(pools[c])])
        out, queues[c] = queues[c][:k], queues[c][k:]
        return out

    shares = counts / n
    plan = []
    for first in range(0, n, batch_size):
        size = min(batch_size, n - first)
        k = min(size - 1, max(1, round(rare_share * size))) if size > 1 else 1
        index = np.concatenate([draw(rare, k), draw(1 - rare, size - k)])
        factor = np.where(
            labels[index] == rare,
            shares[rare] * size / k,
            shares[1 - rare] * size / max(1, size - k),
        ).astype(np.float32)
        plan.append((index, factor))
    return plan


def local_seed(seed: int, server_round: int, index: int) -> int:
    """The seed of one hospital's training in one round: resuming repeats it exactly."""
    return (seed * 1_000_003 + server_round * 1_009 + index * 7 + 1) % (2**31 - 1)
