"""Model weights as one flat array per message, for Flower's transport.

Flower sends every array of a message as an object of its own, one HTTP request per
object on every hop (ServerApp, SuperLink, SuperNode, ClientApp, and back). The CNN
has 12 weight arrays (24 with SCAFFOLD's control variate), so most of a round's
requests were per-array overhead. Both ends know the model's shapes, so the weights
travel as one array: concatenation keeps every bit, and SecAgg+ masks and sums a flat
array as it does a list.
"""

from __future__ import annotations

import numpy as np


def pack(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays, flattened and concatenated in order (one dtype for all)."""
    dtypes = {np.asarray(a).dtype for a in arrays}
    if len(dtypes) != 1:
        raise ValueError(f"cannot pack arrays of several dtypes {sorted(map(str, dtypes))}")
    return np.concatenate([np.ravel(a) for a in arrays])


def unpack(flat: np.ndarray, shapes: list[tuple]) -> list[np.ndarray]:
    """The arrays of ``shapes`` that :func:`pack` made ``flat`` from.

    Raises
    ------
    ValueError
        When ``flat`` is not one array of exactly as many values as the shapes hold
        (another model, a damaged or forged update).
    """
    sizes = [int(np.prod(shape)) for shape in shapes]
    flat = np.asarray(flat)
    if flat.ndim != 1 or flat.size != sum(sizes):
        raise ValueError(
            f"update of shape {flat.shape} is not the model's {sum(sizes)} packed values"
        )
    return [
        piece.reshape(shape).copy()
        for piece, shape in zip(np.split(flat, np.cumsum(sizes)[:-1]), shapes)
    ]
