"""Decode one chest X-ray file (PNG, JPEG, DICOM; any size, mode or bit depth) to the model's grid.

Every image becomes a square uint8 grayscale array: center-cropped to a square and
resized, as PneumoniaMNIST was made from the Kermany radiographs. The file's size and
the size its pixels would take are checked first (:mod:`fedcore.imaging.budget`).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fedcore.errors import FedXrayError
from fedcore.imaging.budget import (
    MAX_FILE_BYTES,
    MAX_PIXELS,
    check_decoded_size,
    check_dicom_before_decoding,
    check_file_size,
    png_layout,
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".dicom"}


def is_dicom(data: bytes) -> bool:
    """DICOM Part 10 files carry 'DICM' after a 128-byte preamble."""
    return len(data) >= 132 and data[128:132] == b"DICM"


def decode_image(
    data: bytes, size: int, name: str = "image", max_bytes: int = MAX_FILE_BYTES
) -> np.ndarray:
    """Decode image bytes to a (size, size) uint8 grayscale array.

    Parameters
    ----------
    data : bytes
        The file's content: PNG, JPEG or DICOM.
    size : int
        Side of the output square in pixels.
    name : str
        What to call the image in an error message (a path or an upload's name).
    max_bytes : int, default MAX_FILE_BYTES
        The largest file accepted (the dashboard passes MAX_UPLOAD_BYTES).

    Returns
    -------
    np.ndarray of uint8, shape (size, size)

    Raises
    ------
    FedXrayError
        When the bytes are not a readable PNG, JPEG or DICOM image, or are too large,
        on disk or once decoded.
    """
    if not data:
        raise FedXrayError(f"{name} is empty: upload a PNG, JPEG or DICOM chest X-ray")
    check_file_size(len(data), name, max_bytes)
    return _square_resize(decode_pixels(data, size, name), size)


def load_image(path: str | Path, size: int) -> np.ndarray:
    """Read and decode one file (see :func:`decode_image` and :func:`read_file`)."""
    return decode_image(read_file(path), size, str(path))


def read_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A file's bytes, its size checked with stat first (a 64 GB sparse file is never read).

    Raises
    ------
    FedXrayError
        For a file larger than ``max_bytes`` or one that cannot be read.
    """
    path = Path(path)
    try:
        check_file_size(path.stat().st_size, str(path), max_bytes)
        return path.read_bytes()
    except OSError as exc:
        raise FedXrayError(f"cannot read {path}: {exc.strerror or exc}") from exc


def decode_pixels(data: bytes, size: int, name: str = "image") -> np.ndarray:
    """The image's pixels as float32 grayscale in 0..1, at (about) the file's own resolution.

    Not cropped nor resized, so the dashboard can show the whole radiograph; the file's
    size on disk is the caller's to check (:func:`decode_image` does).

    Parameters
    ----------
    data : bytes
        The file's content: PNG, JPEG or DICOM.
    size : int
        The side the pixels are meant for: a JPEG is decoded straight at a reduced scale
        no smaller than twice this (cheap for big radiographs); other formats ignore it.
    name : str
        What to call the image in an error message.

    Returns
    -------
    np.ndarray of float32, shape (height, width)

    Raises
    ------
    FedXrayError
        When the bytes are not a readable PNG, JPEG or DICOM image, or their decoded
        pixels would exceed the budget of :mod:`fedcore.imaging.budget`.
    """
    return _decode_dicom(data, name) if is_dicom(data) else _decode_pil(data, size, name)


def _decode_pil(data: bytes, size: int, name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ("PNG", "JPEG", "MPO"):
                raise FedXrayError(f"{name} is a {image.format} image: use PNG, JPEG or DICOM")
            if image.width * image.height > MAX_PIXELS:
                raise FedXrayError(
                    f"{name} is {image.width}x{image.height} pixels, more than "
                    f"{MAX_PIXELS // 1_000_000} megapixels: downscale it first"
                )
            # JPEG can decode straight at a reduced scale: big radiographs cost little memory,
            # and the budget applies to what is actually decoded.
            image.draft("L", (size * 2, size * 2))
            channels, sample_bytes = (
                png_layout(data) if image.format == "PNG" else (len(image.getbands()), 1)
            )
            check_decoded_size(name, image.width, image.height, channels, sample_bytes)
            return to_gray_float(image)
    except FedXrayError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL refuses before MAX_PIXELS can be checked when the header claims ~90 MP or more.
        raise FedXrayError(
            f"{name} has more than {MAX_PIXELS // 1_000_000} megapixels: downscale it first"
        ) from exc
    except UnidentifiedImageError as exc:
        raise FedXrayError(
            f"{name} is not a readable image (not a PNG, JPEG or DICOM file): use PNG, JPEG or "
            "DICOM"
        ) from exc
    except MemoryError as exc:
        raise FedXrayError(
            f"{name} is too large to decode in the memory left: downscale it first"
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise FedXrayError(f"{name} is damaged or truncated and cannot be decoded ({exc})") from exc


def to_gray_float(image: Image.Image) -> np.ndarray:
    """Any PIL mode to float32 grayscale in 0..1, 16-bit kept at full precision before scaling.

    PIL's own ``convert("L")`` truncates 16-bit samples and keeps whatever colour transparent
    pixels carry.

    Parameters
    ----------
    image : PIL.Image.Image
        An opened image of any mode.

    Returns
    -------
    np.ndarray of float32, shape (height, width)
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.array(image, dtype=np.float32)
        arr /= 65535.0 if image.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(arr, 0.0, 1.0, out=arr)
    # Transparent pixels of an exported X-ray are background: they go on black. Done per
    # palette entry or with the alpha channel alone, never through a full RGBA copy.
    if image.mode == "P":
        return _palette_gray(image)[np.asarray(image)]
    gray = np.array(image.convert("L"), dtype=np.float32)
    if image.mode in ("RGBA", "LA"):
        gray *= np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
    gray /= 255.0
    return gray


def _palette_gray(image: Image.Image) -> np.ndarray:
    """The gray level (0..1, on black where transparent) of each of a palette image's 256
    entries."""
    rgb = np.zeros((256, 3), np.float32)
    palette = np.asarray(image.getpalette("RGB") or [], np.float32).reshape(-1, 3)[:256]
    rgb[: len(palette)] = palette
    alpha = np.ones(256, np.float32)
    transparency = image.info.get("transparency")
    if isinstance(transparency, bytes):
        alpha[: len(transparency)] = np.frombuffer(transparency[:256], np.uint8) / 255.0
    elif isinstance(transparency, int) and 0 <= transparency < 256:
        alpha[transparency] = 0.0
    # ITU-R 601-2 luma, as PIL's convert("L").
    return (rgb @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0 * alpha


def _decode_dicom(data: bytes, name: str) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_voi_lut

    try:
        check_dicom_before_decoding(data, name)
        ds = pydicom.dcmread(io.BytesIO(data))
        arr = ds.pixel_array
    except FedXrayError:
        raise
    except Exception as exc:  # pydicom raises many types for bad files
        raise FedXrayError(f"{name} is a DICOM file whose pixels cannot be read ({exc})") from exc
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].mean(axis=-1, dtype=np.float32)
    elif arr.ndim == 3:
        arr = arr[0]  # a multi-frame file: the first frame
    arr = np.array(apply_voi_lut(arr, ds), dtype=np.float32)  # a copy of its own, scaled in place
    low, high = float(arr.min()), float(arr.max())
    arr -= low
    arr /= high - low if high > low else 1.0
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        np.subtract(1.0, arr, out=arr)  # MONOCHROME1 shows low values as white
    return arr


def _square_resize(pixels: np.ndarray, size: int) -> np.ndarray:
    h, w = pixels.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = pixels[top : top + side, left : left + side]
    crop *= 255.0  # in place: the decoded pixels are this function's to change
    crop += 0.5
    square = Image.fromarray(crop.astype(np.uint8))
    return np.asarray(square.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0))
