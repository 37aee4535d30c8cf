"""Deflated Explicit VR Little Endian DICOMs, as pydicom writes them, decode and never hang.

A deflate stream of odd length is followed by the pad byte the standard asks for; both
parities are built here with pydicom's own writer and checked with zlib before use. The
slow cases run in a child process with a timeout, so a hang fails the test instead of
stalling the suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from fedcore.imaging.budget import MAX_DECODED_BYTES
from fedcore.imaging.decode import decode_pixels, read_file

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60

# Decodes one file and reports, as JSON, the outcome and the peak memory the decoding added.
CHILD = """
import json, resource, sys
import pydicom
from fedcore.errors import FedXrayError
from fedcore.imaging.decode import decode_pixels, read_file
data = read_file(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    pixels = decode_pixels(data, 28, sys.argv[1])
    sample = pixels[::997, ::991].tolist()
    result = {"outcome": "decoded", "shape": list(pixels.shape), "sample": sample}
except FedXrayError as exc:
    result = {"outcome": "refused", "message": str(exc)}
result["extra_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps(result))
"""


def radiograph(side: int) -> np.ndarray:
    """12-bit CR-like pixels in uint16: a gradient with speckle, deflating to a few percent."""
    ramp = np.arange(side, dtype=np.uint16)
    pixels = (ramp[:, None] + ramp[None, :]) % 4096
    speckle = pixels[::7, ::5]
    speckle[...] = np.random.default_rng(0).integers(0, 4096, speckle.shape, dtype=np.uint16)
    return pixels


def deflated_stream(path: Path) -> tuple[int, bytes]:
    """(length of the file's deflate stream, the bytes after it), read with zlib alone."""
    import pydicom

    meta = pydicom.filereader.read_file_meta_info(path)
    # Preamble, 'DICM', the group length element itself (12 bytes), then the group.
    body = path.read_bytes()[132 + 12 + meta.FileMetaInformationGroupLength :]
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflater.decompress(body)
    assert inflater.eof, f"{path}'s deflate stream is incomplete"
    return len(body) - len(inflater.unused_data), inflater.unused_data


def save_dicom(
    path: Path,
    pixels: np.ndarray,
    deflated_parity: int | None = None,
    rows_columns: tuple[int, int] | None = None,
) -> Path:
    """``pixels`` saved by pydicom as a CR image, deflated with a stream of the given parity.

    ``deflated_parity`` None saves Explicit VR Little Endian uncompressed; otherwise the
    instance UID is varied until the deflate stream's length has that parity (0 or 1).
    ``rows_columns`` makes the header claim another shape than the pixels'.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        ComputedRadiographyImageStorage,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRLittleEndian,
    )

    rows, columns = rows_columns or pixels.shape
    bits = 8 * pixels.itemsize
    for attempt in range(32):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
        meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.23.{attempt}"
        meta.TransferSyntaxUID = (
            ExplicitVRLittleEndian if deflated_parity is None else DeflatedExplicitVRLittleEndian
        )
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = (
            meta.MediaStorageSOPClassUID,
            meta.MediaStorageSOPInstanceUID,
        )
        ds.Modality, ds.Rows, ds.Columns = "CR", rows, columns
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = (
            bits,
            min(bits, 12),
            min(bits, 12) - 1,
            0,
        )
        ds.PixelData = pixels.tobytes()
        ds.save_as(path, enforce_file_format=True)
        if deflated_parity is None:
            return path
        length, after = deflated_stream(path)
        if length % 2 == deflated_parity:
            assert after == (b"\0" if length % 2 else b""), after
            return path
    raise AssertionError(f"no deflate stream of parity {deflated_parity} in 32 attempts")


def decode_in_child(path: Path) -> dict:
    """The child's report on decoding ``path``; a child still running after TIMEOUT_S fails the
    test."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"decoding {path.name} was still running after {TIMEOUT_S} s")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def normalised(pixels: np.ndarray) -> np.ndarray:
    """What decode_pixels makes of MONOCHROME2 pixels without a VOI LUT: min..max onto 0..1."""
    pixels = pixels.astype(np.float32)
    return (pixels - pixels.min()) / (pixels.max() - pixels.min())


@pytest.fixture(scope="module")
def cr_2048(tmp_path_factory) -> dict:
    """A 2048x2048 CR radiograph saved uncompressed and deflated with streams of odd and even
    length."""
    folder = tmp_path_factory.mktemp("deflated")
    pixels = radiograph(2048)
    return {
        "pixels": pixels,
        "plain": save_dicom(folder / "plain.dcm", pixels),
        "odd": save_dicom(folder / "odd.dcm", pixels, 1),
        "even": save_dicom(folder / "even.dcm", pixels, 0),
    }


def test_an_odd_length_stream_ends_with_the_pad_byte(cr_2048):
    path = cr_2048["odd"]
    length, after = deflated_stream(path)
    assert length % 2 == 1 and after == b"\0" and path.read_bytes().endswith(b"\0")
    assert deflated_stream(cr_2048["even"])[0] % 2 == 0


@pytest.mark.parametrize("parity", ["odd", "even"])
def test_a_deflated_2048_cr_decodes_to_its_pixels(cr_2048, parity):
    result = decode_in_child(cr_2048[parity])
    assert result["outcome"] == "decoded", result
    # The whole array, in this process, now that the child has shown it ends.
    pixels = decode_pixels(read_file(cr_2048[parity]), 28, parity)
    np.testing.assert_allclose(pixels, normalised(cr_2048["pixels"]), atol=1e-6)


def test_a_deflated_8000_16_bit_dicom_is_decoded_or_refused_in_one_line(tmp_path):
    pixels = radiograph(8000)
    path = save_dicom(tmp_path / "big.dcm", pixels, 1)
    result = decode_in_child(path)
    if pixels.nbytes <= MAX_DECODED_BYTES:
        assert result["outcome"] == "decoded", result
        assert result["shape"] == [8000, 8000]
        low, high = pixels.min(), pixels.max()
        expected = (pixels[::997, ::991].astype(np.float32) - low) / (high - low)
        np.testing.assert_allclose(result["sample"], expected, atol=1e-6)
    else:
        assert result["outcome"] == "refused" and "\n" not in result["message"], result
    print(
        f"8000x8000 16-bit deflated: {result['outcome']}, decoding added "
        f"{result['extra_kib'] / 1024:.0f} MB"
    )


def test_a_deflated_stream_inflating_past_the_budget_is_refused_while_inflating(tmp_path):
    # The header claims 512x512 8-bit; the pixel data is larger than the budget.
    zeros = np.zeros(MAX_DECODED_BYTES + 2**20, np.uint8)
    path = save_dicom(tmp_path / "lying.dcm", zeros, 1, rows_columns=(512, 512))
    del zeros
    result = decode_in_child(path)
    assert result["outcome"] == "refused" and "inflates to more than" in result["message"], result
    assert "\n" not in result["message"]
    # Inflated in bounded pieces and dropped: nowhere near the budget held at once.
    assert result["extra_kib"] * 1024 < MAX_DECODED_BYTES // 2, result


def test_the_cli_diagnoses_an_odd_length_deflated_dicom_like_the_uncompressed_one(
    tiny_run, cr_2048
):
    from fedcore.diagnosis import score as diagnosis

    store, run_id = tiny_run
    loaded = diagnosis.load_run_model(store, run_id)
    expected = diagnosis.diagnose(
        loaded, read_file(cr_2048["plain"]), with_heatmap=False
    ).probability
    argv = [
        sys.executable,
        "-m",
        "fedcore",
        "--home",
        str(store.home),
        "diagnose",
        str(cr_2048["odd"]),
        "--run",
        run_id,
    ]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail(
            "`python -m fedcore diagnose` on an odd-length deflated DICOM was still running after "
            "180 s"
        )
    assert out.returncode == 0, out.stderr
    probability = float(re.search(r"P\(pneumonia\) = ([0-9.]+)", out.stdout).group(1))
    assert probability == pytest.approx(expected, abs=1e-4)
