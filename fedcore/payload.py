"""What crosses from a hospital to the server: the one type both sides import, and its check.

A hospital sends a :class:`FitOutcome`: one array per model weight, its number of training
examples, and a few scalar figures. :func:`check` refuses anything else (an array not shaped
like a model weight, a metric that is not a number), so images or labels cannot ride along by
mistake; :func:`manifest` is what the run store records of it each round.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class FitOutcome:
    """What a hospital sends back after local training."""

    weights: list[np.ndarray]
    num_examples: int
    metrics: dict = field(default_factory=dict)

    def payload_bytes(self) -> int:
        """Bytes of the arrays that leave the hospital."""
        return int(sum(w.nbytes for w in self.weights))


def manifest(weights: Sequence[np.ndarray]) -> dict:
    """Count, bytes, shapes and dtypes of the arrays one hospital sent.

    Returns
    -------
    dict
        arrays (int), bytes (int), shapes (list of list of int), dtypes (list of str).
    """
    return {
        "arrays": len(weights),
        "bytes": int(sum(np.asarray(w).nbytes for w in weights)),
        "shapes": [list(np.shape(w)) for w in weights],
        "dtypes": [str(np.asarray(w).dtype) for w in weights],
    }


def check(
    outcome: FitOutcome, model_shapes: Sequence[tuple[int, ...]], masked: bool = False
) -> None:
    """Raise ValueError unless ``outcome`` holds exactly the model's arrays, a count and scalars.

    Parameters
    ----------
    outcome : FitOutcome
        What a hospital returned.
    model_shapes : sequence of tuple of int
        The shapes of the model's weights, in order (``[w.shape for w in model.get_weights()]``).
    masked : bool
        Under SecAgg+ the server never sees one hospital's arrays (only the sum): the
        outcome must then hold none, and only its count and figures are checked.
    """
    shapes = [tuple(np.shape(w)) for w in outcome.weights]
    expected = [] if masked else [tuple(s) for s in model_shapes]
    if shapes != expected:
        raise ValueError(
            f"the hospital sent {len(shapes)} arrays that are not the model's "
            f"{len(expected)} weights"
        )
    if not all(isinstance(w, np.ndarray) and w.dtype.kind == "f" for w in outcome.weights):
        raise ValueError("the hospital sent arrays that are not floating-point model weights")
    if not isinstance(outcome.num_examples, numbers.Integral) or outcome.num_examples < 0:
        raise ValueError(
            f"the example count must be a non-negative integer (got {outcome.num_examples!r})"
        )
    for key, value in outcome.metrics.items():
        if not isinstance(value, numbers.Real):
            raise ValueError(f"metric '{key}' is a {type(value).__name__}, not a number")
