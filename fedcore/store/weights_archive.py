"""Reading a weights .npz inside a memory budget, and the checks every set of weights passes.

What loading an archive takes is read from its zip directory and its arrays' headers
before anything is inflated, so a small file that inflates to gigabytes is refused cheaply.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from fedcore.errors import FedXrayError
from fedcore.npy import npy_header

# What a weights archive may take once loaded: 24 EfficientNetV2S models (81 MB each), 3,700
# CNNs (535 KB each).
MAX_CHECKPOINT_BYTES = 2_000_000_000
# np.savez stores arrays as they are and float weights barely compress, so an archive that
# inflates to more than this many times its size on disk is a zip bomb, not weights.
MAX_INFLATION = 4
# Errors numpy and zipfile raise for an archive that is damaged, truncated, encrypted or odd.
DAMAGED = (
    OSError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)


def read_weights_archive(path: Path, what: str, advice: str) -> dict[str, np.ndarray]:
    """Every array of a weights .npz, after checking from its zip directory and the arrays'
    headers what loading them takes.

    Parameters
    ----------
    path : Path
    what : str
        How messages name the file (``the 'best' checkpoint … of run …``).
    advice : str
        What to do, ending every message.

    Raises
    ------
    FedXrayError
        For an archive that is not a readable .npz, holds something other than arrays of
        numbers, or would take more than :data:`MAX_CHECKPOINT_BYTES` or
        :data:`MAX_INFLATION` times its size on disk.
    """
    try:
        on_disk = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            total = sum(_member_bytes(archive, info, what, advice) for info in archive.infolist())
        limit = min(MAX_CHECKPOINT_BYTES, MAX_INFLATION * on_disk + 2**20)
        if total > limit:
            raise FedXrayError(
                f"{what} would take {total / 1e6:,.0f} MB once loaded, more than the "
                f"{limit / 1e6:,.0f} MB a {on_disk / 1e6:,.1f} MB weights file may take (at most "
                f"{MAX_INFLATION}x its size, {MAX_CHECKPOINT_BYTES / 1e9:.0f} GB in all): it is "
                f"not a checkpoint fedcore wrote; {advice}"
            )
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FedXrayError:
        raise
    except MemoryError as exc:
        raise FedXrayError(f"{what} is too large for the memory left; {advice}") from exc
    except DAMAGED as exc:
        reason = getattr(exc, "strerror", None) or str(exc)[:200]
        raise FedXrayError(f"{what} is damaged ({reason}); {advice}") from exc


def _member_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str, advice: str) -> int:
    """What one member takes once loaded, from its directory entry and its .npy header."""
    if not info.filename.endswith(".npy"):
        raise FedXrayError(f"{what} holds {info.filename!r}, which is not an array; {advice}")
    with archive.open(info) as member:
        shape, dtype = npy_header(member)
    if dtype.hasobject or dtype.kind not in "uif":
        raise FedXrayError(
            f"{what} holds {info.filename[:-4]!r} of {dtype} values, not numbers; {advice}"
        )
    return max(info.file_size, math.prod(shape) * dtype.itemsize)


def check_weights(
    weights: list[np.ndarray],
    what: str,
    advice: str,
    shapes: Sequence | None = None,
    whose: str = "the model",
) -> None:
    """Refuse weights that are not floating point, not finite, or not ``shapes`` (when given).

    Parameters
    ----------
    weights : list of np.ndarray
    what, advice : str
        How the message names the weights, and what it says to do.
    shapes : sequence of tuple, optional
        The shapes the weights must have, in order.
    whose : str
        Whose shapes they are, in the message (``the run's model``).

    Raises
    ------
    FedXrayError
        Naming the first array that does not fit.
    """
    if shapes is not None:
        expected = [tuple(s) for s in shapes]
        if len(weights) != len(expected):
            raise FedXrayError(
                f"{what} has {len(weights)} arrays where {whose} has {len(expected)}; {advice}"
            )
        for i, (w, shape) in enumerate(zip(weights, expected)):
            if w.shape != shape:
                raise FedXrayError(
                    f"{what}: array {i} is {w.shape} where {whose} has {shape}; {advice}"
                )
    for i, w in enumerate(weights):
        if w.dtype.kind != "f":
            raise FedXrayError(f"{what}: array {i} holds {w.dtype}, not weights; {advice}")
        if not np.isfinite(w).all():
            raise FedXrayError(
                f"{what}: array {i} holds NaN or infinite weights (a diverged or altered model); "
                f"{advice}"
            )
