"""A backbone's weights file (``--weights PATH``), checked before and after Keras reads it.

Keras answers a file of another architecture with every layer it holds (tens of kilobytes)
and loads NaN as readily as numbers; a run would then train to a finished model of NaN.
The file's arrays are read from its HDF5 headers first (count, shapes and dtypes against
the backbone's, so what it inflates to is the backbone's own size), and every loaded
value must be finite.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from fedcore.errors import FedXrayError

# The largest backbone file: EfficientNetV2S without its top is 83 MB.
MAX_WEIGHTS_FILE_BYTES = 1_000_000_000
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def names_weights_file(config) -> bool:
    """Whether a run's ``weights`` setting is a file its backbone loads (the CNN has none)."""
    return config.backbone != "cnn" and config.weights not in ("random", "imagenet")


def load_backbone_weights(backbone, path: str, name: str) -> None:
    """Load a Keras weights file into ``backbone`` once it is known to be this backbone's.

    Parameters
    ----------
    backbone : keras.Model
        The backbone built without weights.
    path : str
        The ``--weights`` value: a ``.weights.h5`` or a keras-applications ``_notop.h5``.
    name : str
        The backbone's name, as ``--backbone`` spells it.

    Raises
    ------
    FedXrayError
        One line naming the file, what is wrong with it and what to give instead.
    """
    file = Path(path).expanduser()
    advice = (
        f"give a {name} .weights.h5 (or keras-applications _notop.h5) file saved without its "
        "top, or --weights random or imagenet"
    )
    if not file.is_file():
        problem = "is a folder" if file.is_dir() else "does not exist"
        raise FedXrayError(f"cannot load backbone weights from {file}: it {problem}; {advice}")
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            signature = handle.read(len(HDF5_SIGNATURE))
    except OSError as exc:
        raise FedXrayError(
            f"cannot load backbone weights from {file}: {exc.strerror}; {advice}"
        ) from exc
    if size > MAX_WEIGHTS_FILE_BYTES:
        raise FedXrayError(
            f"cannot load backbone weights from {file}: it is {size / 1e6:,.0f} MB, more than "
            f"the {MAX_WEIGHTS_FILE_BYTES / 1e6:,.0f} MB any backbone takes; {advice}"
        )
    if signature != HDF5_SIGNATURE:
        what = "is empty" if not size else "is not an HDF5 file, which Keras saves weights as"
        raise FedXrayError(f"cannot load backbone weights from {file}: it {what}; {advice}")
    found = _array_shapes(file, advice)
    expected = sorted(tuple(w.shape) for w in backbone.weights)
    if sorted(found) != expected:
        raise FedXrayError(
            f"cannot load backbone weights from {file}: it holds {len(found)} arrays "
            f"({sum(map(np.prod, found)):,.0f} values) where {name} without its top has "
            f"{len(expected)} ({sum(map(np.prod, expected)):,.0f} values), another model's; "
            f"{advice}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            backbone.load_weights(file)
    except Exception as exc:  # Keras raises ValueError, KeyError or h5py's errors, at length
        raise FedXrayError(
            f"cannot load backbone weights from {file}: it has {name}'s shapes but not its "
            f"layers; {advice}"
        ) from exc
    if not all(np.isfinite(w).all() for w in backbone.get_weights()):
        raise FedXrayError(
            f"cannot load backbone weights from {file}: it holds NaN or infinite values, from "
            f"which a run would train to NaN; {advice}"
        )


def _array_shapes(file: Path, advice: str) -> list[tuple]:
    """The shapes of the float arrays a weights file holds, from its headers (nothing inflated).

    A whole saved model keeps its weights under 'model_weights', beside optimizer state
    Keras does not load; only those are counted, as Keras reads them.
    """
    import h5py

    shapes: list[tuple] = []

    def visit(name: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            if item.dtype.kind != "f":
                raise FedXrayError(
                    f"cannot load backbone weights from {file}: it holds {name} of {item.dtype} "
                    f"values, not weights; {advice}"
                )
            shapes.append(tuple(item.shape))

    try:
        with h5py.File(file, "r") as handle:
            root = handle
            if "layer_names" not in handle.attrs and "model_weights" in handle:
                root = handle["model_weights"]
            root.visititems(visit)
    except FedXrayError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError on a damaged file
        raise FedXrayError(
            f"cannot load backbone weights from {file}: it is a damaged or truncated HDF5 file; "
            f"{advice}"
        ) from exc
    return shapes
