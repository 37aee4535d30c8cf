"""The memory budget of one image file, checked before its pixels are decoded.

Memory stays bounded whatever the file claims: its size on disk is checked before it is read,
and the size its pixels would take once decoded (width x height x channels x bytes per sample,
x frames for DICOM) is read from the header and checked before any pixel is decoded, so a
decompression bomb is refused cheaply.
"""

from __future__ import annotations

import io
import math
import zlib

from fedcore.errors import FedXrayError

# A radiograph is at most a few tens of megapixels; above this the file is refused
# rather than risking the memory of the process (PIL's own bomb guard is ~179 MP).
MAX_PIXELS = 80_000_000
# No radiograph file is this large (a 16-bit 5000x5000 DICOM is 50 MB): checked with
# stat before reading, so a huge or sparse file never enters memory.
MAX_FILE_BYTES = 100_000_000
# What the decoded pixels may take, over channels, bit depth and frames: it admits 80 MP of
# 8-bit gray and a 16-bit 8000x8000 DICOM, and bounds the process's peak too (decoding works on
# a few float copies). A pixel count alone would let a 16-bit RGBA image of 632 MB through.
MAX_DECODED_BYTES = 128 * 2**20
# The largest upload the dashboard takes (.streamlit/config.toml's maxUploadSize agrees).
MAX_UPLOAD_BYTES = 25 * 2**20


def check_file_size(n_bytes: int, name: str, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Refuse a file larger than ``max_bytes`` before it is read or decoded.

    Raises
    ------
    FedXrayError
        Naming the file, its size and the limit.
    """
    if n_bytes > max_bytes:
        raise FedXrayError(
            f"{name} is {n_bytes / 1e6:,.0f} MB, more than the {max_bytes / 1e6:.0f} MB "
            "an image may take: downscale or re-export it"
        )


def check_decoded_size(
    name: str, width: int, height: int, channels: int, bytes_per_sample: int, frames: int = 1
) -> None:
    """Refuse an image whose decoded pixels, from the header's figures, would be over budget.

    Raises
    ------
    FedXrayError
        With the image's dimensions and a request to downscale it.
    """
    if width * height > MAX_PIXELS:
        raise FedXrayError(
            f"{name} is {width}x{height} pixels, more than {MAX_PIXELS // 1_000_000} "
            "megapixels: downscale it first"
        )
    decoded = width * height * channels * bytes_per_sample * frames
    if decoded > MAX_DECODED_BYTES:
        shape = f"{width}x{height}x{channels} at {8 * bytes_per_sample} bits" + (
            f" x {frames} frames" if frames > 1 else ""
        )
        raise FedXrayError(
            f"{name} would take {decoded / 1e6:,.0f} MB once decoded ({shape}), more than "
            f"the {MAX_DECODED_BYTES / 1e6:.0f} MB budget: "
            "downscale it or save it as 8-bit grayscale first"
        )


# PNG colour type -> samples per pixel (PNG spec, IHDR).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_layout(data: bytes) -> tuple[int, int]:
    """(channels, bytes per sample) from a PNG's IHDR chunk.

    PIL reports a 16-bit RGBA PNG as mode RGBA, hiding the 16 bits the decoder will handle.
    """
    bit_depth, colour_type = data[24], data[25]
    return _PNG_CHANNELS.get(colour_type, 4), 2 if bit_depth == 16 else 1


def check_dicom_before_decoding(data: bytes, name: str) -> None:
    """Read the header only and refuse a DICOM whose pixels would exceed the budget.

    pydicom inflates a Deflated Explicit VR dataset whole, even to read only its header
    (a 560 KB file can inflate to gigabytes): for those, the header is read from the
    first megabyte inflated, and the whole inflation is bounded by the budget.

    Raises
    ------
    FedXrayError
        For a header without an image, or pixels (or an inflated dataset) over the budget;
        pydicom's own errors on a damaged file are left to the caller to word.
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
    head = inflater.decompress(data[stream.tell() :], 2**20)
    # The inflated dataset is Explicit VR Little Endian with no meta: force reads it as such.
    _check_dicom_header(
        pydicom.dcmread(io.BytesIO(head), force=True, stop_before_pixels=True), name
    )
    inflated = len(head)
    # Stop at the stream's end: CPython leaves the bytes after it (the pad byte of an odd-length
    # stream) in unconsumed_tail as well as unused_data, and inflating them yields nothing.
    while not inflater.eof and inflater.unconsumed_tail and inflated <= MAX_DECODED_BYTES:
        inflated += len(inflater.decompress(inflater.unconsumed_tail, 2**24))
    if inflated > MAX_DECODED_BYTES:
        raise FedXrayError(
            f"{name} is a deflated DICOM that inflates to more than the "
            f"{MAX_DECODED_BYTES / 1e6:.0f} MB budget: re-export it uncompressed or downscaled"
        )


def _check_dicom_header(header, name: str) -> None:
    """The decoded size a DICOM header claims, checked before its pixels are decoded."""
    rows, columns = int(header.get("Rows") or 0), int(header.get("Columns") or 0)
    if not rows or not columns:
        raise FedXrayError(
            f"{name} is a DICOM file without an image (no Rows/Columns): use an image DICOM"
        )
    channels = int(header.get("SamplesPerPixel") or 1)
    sample_bytes = math.ceil(int(header.get("BitsAllocated") or 8) / 8)
    frames = int(header.get("NumberOfFrames") or 1)
    check_decoded_size(name, columns, rows, channels, sample_bytes, max(frames, 1))
