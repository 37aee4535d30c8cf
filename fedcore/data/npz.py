"""The MedMNIST-format .npz reader: what an archive may cost and hold is checked before it loads."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from fedcore.data.arrays import gray_uint8, resize_stack
from fedcore.data.splits import SPLITS, Split
from fedcore.errors import FedXrayError
from fedcore.npy import npy_header

# What reading a .npz may take: its image and label arrays once loaded, their grayscale
# uint8 copy and the images at the model's size, summed over the members read (checked
# from the zip directory, the arrays' headers and the size asked for, before anything is
# inflated). MedMNIST at 224x224, 5,856 images in uint8, takes 294 MB, 588 MB at 224 px.
MAX_NPZ_BYTES = 1_000_000_000


def read_npz(path: str | Path, size: int, splits: tuple[str, ...] = SPLITS) -> dict[str, Split]:
    """The train/val/test splits of a MedMNIST-format .npz, resized to ``size``.

    Keys ``{split}_images`` (n, h, w) or (n, h, w, c) and ``{split}_labels`` (n,) or (n, 1).

    Parameters
    ----------
    path : str or Path
    size : int
        Side of the output images in pixels.
    splits : tuple of str, default ('train', 'val', 'test')
        The splits to read (the server's global test set reads only 'test').

    Raises
    ------
    FedXrayError
        For a file that is not a .npz archive, missing keys, arrays over
        :data:`MAX_NPZ_BYTES`, non-numeric or empty images, or labels other than 0/1.
    """
    path = Path(path)
    keys = [f"{split}_{kind}" for split in splits for kind in ("images", "labels")]
    arrays = _load_npz_arrays(path, keys, size)
    out = {}
    for split in splits:
        images = _checked_images(arrays[f"{split}_images"], f"{path}: {split}_images")
        labels = _checked_labels(arrays[f"{split}_labels"], f"{path}: {split}_labels")
        if len(images) != len(labels):
            raise FedXrayError(f"{path}: {split} has {len(images)} images but {len(labels)} labels")
        out[split] = Split(resize_stack(gray_uint8(images), size), labels)
    return out


def _load_npz_arrays(path: Path, keys: list[str], size: int) -> dict[str, np.ndarray]:
    """The named arrays of a .npz, after checking from its zip directory what reading them costs.

    np.load inflates a member whole: a 2.5 MB archive of zeros can claim gigabytes, and a
    50 KB one of a million 1x1 images takes gigabytes once resized. The directory's sizes,
    each array's .npy header and ``size`` are read first, without inflating.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            missing = [k for k in keys if k not in members]
            if missing:
                raise FedXrayError(
                    f"{path} has no {', '.join(missing)}: a MedMNIST-format .npz holds "
                    "train_images, train_labels, val_images, val_labels, test_images, test_labels"
                )
            loaded = resized = 0
            for key in keys:
                with archive.open(members[key]) as member:
                    shape, dtype = npy_header(member)
                loaded += max(members[key].file_size, math.prod(shape) * dtype.itemsize)
                if key.endswith("_images"):
                    resized += _conversion_bytes(shape, dtype, size)
            if loaded + resized > MAX_NPZ_BYTES:
                raise FedXrayError(
                    f"{path} would take {(loaded + resized) / 1e6:,.0f} MB once loaded and "
                    f"converted to {size} px (arrays {loaded / 1e6:,.0f} MB, converted images "
                    f"{resized / 1e6:,.0f} MB), more than the {MAX_NPZ_BYTES / 1e6:,.0f} MB a "
                    ".npz may take: store fewer or smaller images, as uint8, or use a smaller "
                    "--image-size"
                )
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in keys}
    except FedXrayError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise FedXrayError(
            f"{path} is not a readable .npz archive ({exc}): it may be empty, truncated, or a "
            ".npy renamed; save it with numpy.savez"
        ) from exc
    except ValueError as exc:  # object arrays (pickles are never loaded), bad .npy headers
        raise FedXrayError(
            f"{path} holds an array that cannot be read ({exc}): store numbers only, "
            "with numpy.savez"
        ) from exc
    except OSError as exc:
        raise FedXrayError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _conversion_bytes(shape: tuple, dtype: np.dtype, size: int) -> int:
    """What turning (n, h, w[, c]) images into (n, size, size) uint8 allocates: a grayscale
    uint8 copy (none for uint8 gray) and the resized stack (none at the model's size)."""
    if len(shape) not in (3, 4):
        return 0
    n, h, w = shape[:3]
    gray = 0 if dtype == np.uint8 and len(shape) == 3 else n * h * w
    return gray + (0 if h == w == size else n * size * size)


def _checked_images(images: np.ndarray, name: str) -> np.ndarray:
    """Images must be numbers, (n, h, w) or (n, h, w, c) with h, w > 0 and finite values."""
    if images.dtype.kind not in "uifb":
        raise FedXrayError(
            f"{name} holds {images.dtype} values: images must be numbers (uint8 ideally)"
        )
    if images.ndim not in (3, 4) or 0 in images.shape[1:]:
        raise FedXrayError(
            f"{name} has shape {images.shape}: images must be (n, h, w) or (n, h, w, channels) "
            "with every side above 0"
        )
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        raise FedXrayError(f"{name} holds NaN or infinite values: images must be finite")
    lowest = images.min() if images.dtype.kind in "if" and images.size else 0
    if lowest < 0:
        # Clipped to black, they would train a model on blank images without a word.
        raise FedXrayError(
            f"{name} holds negative values (down to {lowest.item()}): images must be "
            "0..255, 0..1 or 0..65535; rescale them (to uint8, ideally) first"
        )
    return images


def _checked_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """Labels must be 0 (NORMAL) or 1 (PNEUMONIA), checked before any cast: 256 must not wrap."""
    if labels.ndim not in (1, 2) or (labels.ndim == 2 and labels.shape[1] != 1):
        raise FedXrayError(f"{name} has shape {labels.shape}: labels must be (n,) or (n, 1)")
    if labels.dtype.kind not in "uifb":
        raise FedXrayError(
            f"{name} holds {labels.dtype} values: labels must be the integers 0 or 1"
        )
    labels = labels.reshape(-1)
    if not np.isin(labels, (0, 1)).all():
        bad = np.unique(labels[~np.isin(labels, (0, 1))])[:3]
        raise FedXrayError(
            f"{name} holds {', '.join(repr(v.item()) for v in bad)}: labels must be 0 (NORMAL) "
            "or 1 (PNEUMONIA)"
        )
    return labels.astype(np.int8)
