"""What crosses from a hospital to the server, described and checked.

A hospital sends a :class:`fedcore.client.FitOutcome`: one array per model weight,
its number of training examples, and a few scalar figures. :func:`check` refuses
anything else (an array that is not shaped like a model weight, a metric that is not a
number), so images or labels cannot ride along by mistake; :func:`manifest` is what the
run store records of it each round.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from fedcore.client import FitOutcome


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


def check(outcome: FitOutcome, model_shapes: Sequence[tuple[int, ...]]) -> None:
    """Raise ValueError unless ``outcome`` holds exactly the model's arrays, a count and scalars.

    Parameters
    ----------
    outcome : FitOutcome
        What a hospital returned.
    model_shapes : sequence of tuple of int
        The shapes of the model's weights, in order (``[w.shape for w in model.get_weights()]``).
    """
    shapes = [tuple(np.shape(w)) for w in outcome.weights]
    if shapes != [tuple(s) for s in model_shapes]:
        raise ValueError(f"the hospital sent {len(shapes)} arrays that are not the model's "
                         f"{len(model_shapes)} weights")
    if not all(isinstance(w, np.ndarray) and w.dtype.kind == "f" for w in outcome.weights):
        raise ValueError("the hospital sent arrays that are not floating-point model weights")
    if not isinstance(outcome.num_examples, numbers.Integral) or outcome.num_examples < 0:
        raise ValueError(f"the example count must be a non-negative integer (got {outcome.num_examples!r})")
    for key, value in outcome.metrics.items():
        if not isinstance(value, numbers.Real):
            raise ValueError(f"metric '{key}' is a {type(value).__name__}, not a number")
