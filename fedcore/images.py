"""Decode one chest X-ray file (PNG, JPEG, DICOM; any size, mode or bit depth) to the model's grid.

Every image becomes a square uint8 grayscale array: center-cropped to a square and
resized, as PneumoniaMNIST was made from the Kermany radiographs.

Memory stays bounded whatever the file claims: its size on disk is checked before it is
read (:data:`MAX_FILE_BYTES`), and the size its pixels would take once decoded (width x
height x channels x bytes per sample, x frames for DICOM) is read from the header and
checked against one budget (:data:`MAX_DECODED_BYTES`) before any pixel is decoded. A
small compressed file that claims a huge image (a decompression bomb) is refused cheaply.
"""

from __future__ import annotations

import io
import math
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fedcore.errors import FedXrayError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".dicom"}
# A radiograph is at most a few tens of megapixels; above this the file is refused
# rather than risking the memory of the process (PIL's own bomb guard is ~179 MP).
MAX_PIXELS = 80_000_000
# No radiograph file is this large (a 16-bit 5000x5000 DICOM is 50 MB): checked with
# stat before reading, so a huge or sparse file never enters memory.
MAX_FILE_BYTES = 100_000_000
# What the decoded pixels may take, summed over channels, bit depth and frames. It admits
# 80 MP of 8-bit gray and a 16-bit 8000x8000 DICOM; decoding works on a few float copies
# of this, so it bounds the process's peak too. Pixels count alone would let a 16-bit
# RGBA image of 79 MP (632 MB decoded) through.
MAX_DECODED_BYTES = 128 * 2**20
# The largest upload the dashboard takes (.streamlit/config.toml's maxUploadSize agrees).
MAX_UPLOAD_BYTES = 25 * 2**20


def is_dicom(data: bytes) -> bool:
    """DICOM Part 10 files carry 'DICM' after a 128-byte preamble."""
    return len(data) >= 132 and data[128:132] == b"DICM"


def decode_image(data: bytes, size: int, name: str = "image", max_bytes: int = MAX_FILE_BYTES) -> np.ndarray:
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
    pixels = _decode_dicom(data, name) if is_dicom(data) else _decode_pil(data, size, name)
    return _square_resize(pixels, size)


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


def check_file_size(n_bytes: int, name: str, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Refuse a file larger than ``max_bytes`` before it is read or decoded.

    Raises
    ------
    FedXrayError
        Naming the file, its size and the limit.
    """
    if n_bytes > max_bytes:
        raise FedXrayError(f"{name} is {n_bytes / 1e6:,.0f} MB, more than the {max_bytes / 1e6:.0f} MB "
                           "an image may take: downscale or re-export it")


def check_decoded_size(name: str, width: int, height: int, channels: int, bytes_per_sample: int,
                       frames: int = 1) -> None:
    """Refuse an image whose decoded pixels would exceed :data:`MAX_PIXELS` or :data:`MAX_DECODED_BYTES`.

    Called with the header's figures, before any pixel is decoded.

    Raises
    ------
    FedXrayError
        With the image's dimensions and a request to downscale it.
    """
    if width * height > MAX_PIXELS:
        raise FedXrayError(f"{name} is {width}x{height} pixels, more than {MAX_PIXELS // 1_000_000} "
                           "megapixels: downscale it first")
    decoded = width * height * channels * bytes_per_sample * frames
    if decoded > MAX_DECODED_BYTES:
        shape = f"{width}x{height}x{channels} at {8 * bytes_per_sample} bits" + (
            f" x {frames} frames" if frames > 1 else "")
        raise FedXrayError(f"{name} would take {decoded / 1e6:,.0f} MB once decoded ({shape}), more than "
                           f"the {MAX_DECODED_BYTES / 1e6:.0f} MB budget: downscale it or save it as 8-bit "
                           "grayscale first")


def _decode_pil(data: bytes, size: int, name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ("PNG", "JPEG", "MPO"):
                raise FedXrayError(f"{name} is a {image.format} image: use PNG, JPEG or DICOM")
            if image.width * image.height > MAX_PIXELS:
                raise FedXrayError(f"{name} is {image.width}x{image.height} pixels, more than "
                                   f"{MAX_PIXELS // 1_000_000} megapixels: downscale it first")
            # JPEG can decode straight at a reduced scale: big radiographs cost little memory,
            # and the budget applies to what is actually decoded.
            image.draft("L", (size * 2, size * 2))
            channels, sample_bytes = _png_layout(data) if image.format == "PNG" else (len(image.getbands()), 1)
            check_decoded_size(name, image.width, image.height, channels, sample_bytes)
            return _to_gray_float(image)
    except FedXrayError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL refuses before MAX_PIXELS can be checked when the header claims ~90 MP or more.
        raise FedXrayError(f"{name} has more than {MAX_PIXELS // 1_000_000} megapixels: "
                           "downscale it first") from exc
    except UnidentifiedImageError as exc:
        raise FedXrayError(f"{name} is not a readable image ({exc.__class__.__name__}): "
                           "use PNG, JPEG or DICOM") from exc
    except MemoryError as exc:
        raise FedXrayError(f"{name} is too large to decode in the memory left: downscale it first") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise FedXrayError(f"{name} is damaged or truncated and cannot be decoded ({exc})") from exc


# PNG colour type -> samples per pixel (PNG spec, IHDR).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _png_layout(data: bytes) -> tuple[int, int]:
    """(channels, bytes per sample) from a PNG's IHDR chunk, which PIL opened without reading pixels.

    PIL reports a 16-bit RGBA PNG as mode RGBA, hiding the 16 bits the decoder will handle.
    """
    bit_depth, colour_type = data[24], data[25]
    return _PNG_CHANNELS.get(colour_type, 4), 2 if bit_depth == 16 else 1


def _to_gray_float(image: Image.Image) -> np.ndarray:
    """Any PIL mode to float32 in 0..1 (16-bit kept at full precision before scaling)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(arr / top, 0.0, 1.0)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels of an exported X-ray are background: put them on black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _decode_dicom(data: bytes, name: str) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_voi_lut

    try:
        _check_dicom_before_decoding(data, name)
        ds = pydicom.dcmread(io.BytesIO(data))
        arr = ds.pixel_array
    except FedXrayError:
        raise
    except Exception as exc:  # pydicom raises many types for bad files
        raise FedXrayError(f"{name} is a DICOM file whose pixels cannot be read ({exc})") from exc
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].mean(axis=-1)
    elif arr.ndim == 3:
        arr = arr[0]  # a multi-frame file: the first frame
    arr = np.asarray(apply_voi_lut(arr, ds), dtype=np.float32)
    low, high = float(arr.min()), float(arr.max())
    arr = (arr - low) / (high - low) if high > low else np.zeros_like(arr)
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        arr = 1.0 - arr  # MONOCHROME1 shows low values as white
    return arr


def _check_dicom_before_decoding(data: bytes, name: str) -> None:
    """Read the header only and refuse a DICOM whose pixels would exceed the budget.

    pydicom inflates a Deflated Explicit VR dataset whole, even to read only its header
    (a 560 KB file can inflate to gigabytes): for those, the header is read from the
    first megabyte inflated, and the whole inflation is bounded by the budget.
    """
    import pydicom
    from pydicom.filereader import _read_file_meta_info, read_preamble

    stream = io.BytesIO(data)
    read_preamble(stream, False)
    # pydicom has no public reader of the file meta from memory; this is what its own
    # read_file_meta_info(path) calls.
    meta = _read_file_meta_info(stream)
    if meta.get("TransferSyntaxUID") != pydicom.uid.DeflatedExplicitVRLittleEndian:
        _check_dicom_header(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True), name)
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    head = inflater.decompress(data[stream.tell():], 2**20)
    # The inflated dataset is Explicit VR Little Endian with no meta: force reads it as such.
    _check_dicom_header(pydicom.dcmread(io.BytesIO(head), force=True, stop_before_pixels=True), name)
    inflated = len(head)
    while inflater.unconsumed_tail and inflated <= MAX_DECODED_BYTES:
        inflated += len(inflater.decompress(inflater.unconsumed_tail, 2**24))
    if inflated > MAX_DECODED_BYTES:
        raise FedXrayError(f"{name} is a deflated DICOM that inflates to more than the "
                           f"{MAX_DECODED_BYTES / 1e6:.0f} MB budget: re-export it uncompressed or downscaled")


def _check_dicom_header(header, name: str) -> None:
    """The decoded size a DICOM header claims, checked before its pixels are decoded."""
    rows, columns = int(header.get("Rows") or 0), int(header.get("Columns") or 0)
    if not rows or not columns:
        raise FedXrayError(f"{name} is a DICOM file without an image (no Rows/Columns): use an image DICOM")
    channels = int(header.get("SamplesPerPixel") or 1)
    sample_bytes = math.ceil(int(header.get("BitsAllocated") or 8) / 8)
    frames = int(header.get("NumberOfFrames") or 1)
    check_decoded_size(name, columns, rows, channels, sample_bytes, max(frames, 1))


def _square_resize(pixels: np.ndarray, size: int) -> np.ndarray:
    h, w = pixels.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray((pixels[top:top + side, left:left + side] * 255.0 + 0.5).astype(np.uint8))
    return np.asarray(square.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0))
