"""What decoding and resizing allocate is known before they allocate, on every path.

A palette PNG with transparency costs what 8-bit gray of its size costs (it used to be
composited through three RGBA copies), and a .npz of many tiny images is refused from its
headers and the size asked for (it used to pass the 1 GB cap, then take gigabytes once
resized). Files are built here without holding their pixels; peak memory is read in a
fresh child process (getrusage), as in test_memory_bounds.py.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from fedcore.data import read_npz
from fedcore.errors import FedXrayError
from fedcore.store import RunStore
from tests.imaging.test_memory_bounds import deflated_zeros, peak_and_outcome
from tests.store.test_store_damage import assert_one_error_line, run_cli

SIDE = 8900  # 79 megapixels: under the 80-megapixel limit


def png_of_zeros(path: Path, side: int, colour_type: int, extra_chunks: bytes = b"") -> Path:
    """An 8-bit PNG of side x side zero samples (one per pixel: gray or palette indices)."""
    n = side * (1 + side)  # per row: a filter byte, then one byte per pixel
    checksum = 1
    for start in range(0, n, 2**26):
        checksum = zlib.adler32(bytes(min(2**26, n - start)), checksum)
    idat = b"\x78\xda" + deflated_zeros(b"", n) + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", side, side, 8, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra_chunks
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )
    return path


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def palette_png_with_transparency(path: Path, side: int) -> Path:
    """Every pixel is entry 0: gray 200 at half opacity, so 100 once put on black."""
    palette = bytes([200, 200, 200]) + bytes(range(1, 256)) * 3
    alpha = bytes([128]) + bytes([255] * 255)
    return png_of_zeros(path, side, 3, chunk(b"PLTE", palette[:768]) + chunk(b"tRNS", alpha))


@pytest.fixture(scope="module")
def pngs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pngs")
    return {
        "gray": png_of_zeros(folder / "gray.png", SIDE, 0),
        "palette": palette_png_with_transparency(folder / "palette.png", SIDE),
    }


def test_a_palette_png_with_transparency_costs_what_gray_costs(pngs):
    assert pngs["palette"].stat().st_size < 200_000, "about 98 KB"
    gray_peak, gray = peak_and_outcome(pngs["gray"])
    peak, outcome = peak_and_outcome(pngs["palette"])
    assert (gray, outcome) == ("read", "read")
    print(f"palette+tRNS {SIDE}px: peak {peak / 1024:.0f} MB, 8-bit gray {gray_peak / 1024:.0f} MB")
    # Composited through RGBA this peaked at 1.6 GB; per palette entry it is gray's cost.
    assert peak <= gray_peak + 64 * 1024, (peak, gray_peak)


def test_transparent_palette_pixels_go_on_black(tmp_path):
    from fedcore.imaging.decode import load_image

    image = load_image(palette_png_with_transparency(tmp_path / "small.png", 300), 28)
    assert image.shape == (28, 28) and np.abs(image.astype(int) - 100).max() <= 1


def tiny_images_npz(path: Path, n: int) -> Path:
    """A MedMNIST-format .npz whose train split is ``n`` images of 1x1 pixel."""
    labels = np.arange(n, dtype=np.uint8) % 2
    small = np.zeros((8, 28, 28), np.uint8)
    np.savez_compressed(
        path,
        train_images=np.zeros((n, 1, 1), np.uint8),
        train_labels=labels,
        val_images=small,
        val_labels=labels[:8],
        test_images=small,
        test_labels=labels[:8],
    )
    return path


@pytest.mark.parametrize("size", [28, 256])
def test_tiny_images_are_refused_for_what_resizing_them_takes(tmp_path, size):
    path = tiny_images_npz(tmp_path / "tiny.npz", 3_000_000)
    assert path.stat().st_size < 100_000, "about 50 KB"
    with pytest.raises(FedXrayError, match=f"converted to {size} px") as caught:
        read_npz(path, size)
    assert str(path) in str(caught.value) and "--image-size" in str(caught.value)


def test_tiny_images_are_refused_in_the_memory_of_a_normal_npz(tmp_path):
    normal_peak, outcome = peak_and_outcome(tiny_images_npz(tmp_path / "few.npz", 1_000))
    assert outcome == "read"
    peak, outcome = peak_and_outcome(tiny_images_npz(tmp_path / "tiny.npz", 3_000_000))
    assert outcome.startswith("refused: ") and "converted to 28 px" in outcome, outcome
    print(f"3,000,000 1x1 images: peak {peak / 1024:.0f} MB vs {normal_peak / 1024:.0f} MB")
    assert peak - normal_peak <= 50 * 1024, (peak, normal_peak)


def test_tiny_images_stop_train_before_a_run_exists(tmp_path, capsys):
    path = tiny_images_npz(tmp_path / "tiny.npz", 3_000_000)
    store = RunStore(tmp_path / "home")
    code, out, err = run_cli(
        capsys, "--home", str(store.home), "train", "--data", str(path), "--image-size", "256"
    )
    assert_one_error_line(code, err, str(path), "converted to 256 px", "more than the 1,000 MB")
    assert out == "" and store.list_runs() == []


def test_few_tiny_images_are_read_and_resized(tmp_path):
    splits = read_npz(tiny_images_npz(tmp_path / "few.npz", 1_000), 28)
    assert splits["train"].images.shape == (1_000, 28, 28)


def test_float_colour_images_convert_a_block_at_a_time_as_a_whole(monkeypatch):
    from fedcore.data import arrays

    images = np.random.default_rng(0).random((70, 9, 11, 3))
    whole = np.clip(images.mean(axis=-1) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    monkeypatch.setattr(arrays, "BLOCK_PIXELS", 9 * 11 * 4)  # blocks of 4 images
    assert np.abs(arrays.gray_uint8(images).astype(int) - whole).max() <= 1
