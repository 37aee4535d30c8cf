"""The out-of-distribution check: real radiographs pass; noise, colour photos, tiny and uniform
images are flagged."""

import io

import numpy as np
import pytest
from PIL import Image

from fedcore.data import SAMPLES_DIR
from fedcore.diagnosis.lookalike import check_upload, sample_paths
from fedcore.imaging.decode import decode_image


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt)
    return buffer.getvalue()


def check(data: bytes):
    return check_upload(data, decode_image(data, 28))


@pytest.mark.parametrize("path", sample_paths(SAMPLES_DIR), ids=lambda p: p.name)
def test_real_radiographs_raise_no_warning(path):
    result = check(path.read_bytes())
    assert result.looks_like_xray, result.warnings


def test_a_radiograph_saved_as_rgb_is_still_grayscale():
    gray = np.asarray(Image.open(sample_paths(SAMPLES_DIR)[0]).convert("L"))
    assert check(encode(np.stack([gray] * 3, axis=-1), "JPEG")).looks_like_xray


def test_random_noise_is_unlike_a_chest_xray():
    noise = np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)
    result = check(encode(noise))
    assert [w for w in result.warnings if "layout is unlike a frontal chest X-ray" in w]


def test_a_colour_photo_is_flagged_as_colour():
    y, x = np.mgrid[0:480, 0:640]
    photo = np.stack([(x * 255 // 640), (y * 255 // 480), ((x + y) % 256)], axis=-1).astype(
        np.uint8
    )
    result = check(encode(photo, "JPEG"))
    assert any("in colour" in w for w in result.warnings)


def test_a_tiny_image_is_flagged_with_its_size():
    noise = np.random.default_rng(1).integers(0, 256, (10, 10), dtype=np.uint8)
    result = check(encode(noise))
    assert any("only 10×10 pixels" in w for w in result.warnings)


def test_a_uniform_image_is_flagged_as_uniform():
    result = check(encode(np.full((600, 600), 128, dtype=np.uint8)))
    assert result.warnings == (
        "The image is nearly one uniform grey: there is no anatomy to score.",
    )


def test_an_inverted_radiograph_is_flagged():
    gray = np.asarray(Image.open(sample_paths(SAMPLES_DIR)[0]).convert("L"))
    assert not check(encode(255 - gray)).looks_like_xray


def test_a_16_bit_radiograph_passes():
    gray = np.asarray(Image.open(sample_paths(SAMPLES_DIR)[3]).convert("L"), dtype=np.uint16) * 257
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, "PNG")
    assert check(buffer.getvalue()).looks_like_xray
