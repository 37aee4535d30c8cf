"""Decompression bombs are refused before they are decoded: peak memory stays near a normal
radiograph's.

Each bomb is a small file that claims a huge image, built here without ever holding the
inflated data: a deflated DICOM claiming 24000 x 24000, a 16-bit RGBA PNG just under the
80-megapixel limit, a .npz whose zeros inflate past a gigabyte, and a 64 GB sparse file.
Each is read in a child process, whose peak resident memory (getrusage) is compared
with the same child reading one of the shipped radiographs.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from fedcore.data import SAMPLES_DIR
from fedcore.imaging.budget import MAX_PIXELS

ROOT = Path(__file__).resolve().parents[2]
# Over what the same command costs on a normal radiograph, in KiB (ru_maxrss on Linux).
ALLOWED_EXTRA_KIB = 300 * 1024

CHILD = """
import resource, sys
from fedcore.data import read_npz
from fedcore.errors import FedXrayError
from fedcore.imaging.decode import load_image
path = sys.argv[1]
try:
    read_npz(path, 28) if path.endswith('.npz') else load_image(path, 28)
    outcome = 'read'
except FedXrayError as exc:
    outcome = 'refused: ' + str(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print(outcome)
"""


def peak_and_outcome(path: Path) -> tuple[int, str]:
    """(peak RSS in KiB, 'read' or 'refused: message') of a fresh process reading ``path``."""
    return child_peak(CHILD, str(path))


def child_peak(script: str, *args: str) -> tuple[int, str]:
    """The two lines a fresh process running ``script`` prints: its peak RSS in KiB and what
    happened."""
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    return int(out[0]), out[1]


def deflated_zeros(head: bytes, n_zeros: int) -> bytes:
    """Raw deflate of ``head`` then ``n_zeros`` zero bytes, without compressing every zero.

    After a full flush a deflate stream holds no reference to what came before, so the
    compressed form of one block of zeros can be repeated as often as needed.
    """
    block = 2**22
    first = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    repeated = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    last = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = repeated.compress(bytes(block)) + repeated.flush(zlib.Z_FULL_FLUSH)
    return (
        first.compress(head)
        + first.flush(zlib.Z_FULL_FLUSH)
        + zeros * (n_zeros // block)
        + last.compress(bytes(n_zeros % block))
        + last.flush()
    )


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(path: Path, side: int) -> Path:
    """A valid 16-bit RGBA PNG of side x side zeros (about 600 KB for 8944)."""
    n = side * (1 + side * 8)  # per row: a filter byte, then 4 samples of 2 bytes per pixel
    checksum = 1
    for start in range(0, n, 2**26):
        checksum = zlib.adler32(bytes(min(2**26, n - start)), checksum)
    idat = (
        b"\x78\xda" + deflated_zeros(b"", n) + struct.pack(">I", checksum)
    )  # zlib: header, deflate, Adler-32
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    return path


def deflated_dicom_bomb(path: Path, side: int) -> Path:
    """A Deflated Explicit VR DICOM of side x side 8-bit zeros (about 560 KB for 24000)."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
        "CR",
    )
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    body = pydicom.filebase.DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(body, ds)
    n = side * side
    # The dataset, then a PixelData element of n zeros.
    dataset = deflated_zeros(
        body.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, n), n
    )
    file_meta = io.BytesIO()
    pydicom.filewriter.write_file_meta_info(file_meta, meta, enforce_standard=True)
    path.write_bytes(b"\0" * 128 + b"DICM" + file_meta.getvalue() + dataset)
    return path


def npz_bomb(path: Path, n: int = 21000, side: int = 224) -> Path:
    """A MedMNIST-format .npz whose train_images (n x side x side zeros, 1.05 GB) deflate to about 5
    MB."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("train_images.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": "|u1", "fortran_order": False, "shape": (n, side, side)}
            )
            block = bytes(side * side * 100)
            for _ in range(n // 100):
                member.write(block)
        small = {
            "train_labels": np.zeros(n, np.uint8),
            "val_images": np.zeros((8, 28, 28), np.uint8),
            "val_labels": np.zeros(8, np.uint8),
            "test_images": np.zeros((8, 28, 28), np.uint8),
            "test_labels": np.zeros(8, np.uint8),
        }
        for key, value in small.items():
            with archive.open(f"{key}.npy", "w") as member:
                np.lib.format.write_array(member, value)
    return path


def sparse_file(path: Path, size: int = 64 * 2**30) -> Path:
    """A file that claims 64 GB and occupies no disk."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    side = int(MAX_PIXELS**0.5) - 1  # just under the pixel limit
    return {
        "deflated DICOM 24000x24000": deflated_dicom_bomb(folder / "bomb.dcm", 24000),
        f"16-bit RGBA PNG {side}x{side}": png_bomb(folder / "rgba16.png", side),
        ".npz zip bomb": npz_bomb(folder / "bomb.npz"),
        "64 GB sparse .png": sparse_file(folder / "sparse.png"),
    }


@pytest.fixture(scope="module")
def normal_peak() -> int:
    peak, outcome = peak_and_outcome(sorted((SAMPLES_DIR / "NORMAL").glob("*.jpeg"))[0])
    assert outcome == "read"
    return peak


def test_the_bombs_are_small_files(bombs):
    sizes = {name: path.stat().st_blocks * 512 for name, path in bombs.items()}
    assert all(size < 6_000_000 for size in sizes.values()), sizes


@pytest.mark.parametrize(
    "name", ["deflated DICOM 24000x24000", "16-bit RGBA PNG", ".npz zip bomb", "64 GB sparse .png"]
)
def test_a_bomb_is_refused_within_300_mb_of_a_normal_radiograph(bombs, normal_peak, name):
    path = next(p for n, p in bombs.items() if n.startswith(name))
    peak, outcome = peak_and_outcome(path)
    assert outcome.startswith("refused: "), outcome
    assert str(path) in outcome and (
        "downscale" in outcome or "smaller" in outcome or "MB" in outcome
    )
    print(f"{name}: peak {peak / 1024:.0f} MB vs normal radiograph {normal_peak / 1024:.0f} MB")
    assert peak - normal_peak <= ALLOWED_EXTRA_KIB, (peak, normal_peak)


def test_bombs_in_a_class_folder_are_skipped_and_listed(bombs, tmp_path):
    from fedcore.data import read_class_folders

    normal = tmp_path / "test" / "NORMAL"
    normal.mkdir(parents=True)
    for path in bombs.values():
        if path.suffix != ".npz":
            os.link(path, normal / path.name)
    sample = sorted((SAMPLES_DIR / "NORMAL").glob("*.jpeg"))[0]
    (normal / sample.name).write_bytes(sample.read_bytes())
    skipped: list = []
    split = read_class_folders(tmp_path / "test", 28, skipped)
    assert len(split) == 1
    assert sorted(Path(p).name for p, _ in skipped) == ["bomb.dcm", "rgba16.png", "sparse.png"]
