"""Stacks of images brought to the model's grid: uint8 grayscale, square, then float input."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fedcore.errors import FedXrayError

# Pixels converted at a time (64 MB as float32).
BLOCK_PIXELS = 2**24


def gray_uint8(images: np.ndarray) -> np.ndarray:
    """(n, h, w) or (n, h, w, channels) images of any numeric type to (n, h, w) uint8 grayscale.

    Colour is averaged over its first three channels; values are scaled from their
    apparent range (0..1, 0..255 or 16-bit), since a .npz does not say which it holds.
    Converted a block of images at a time: the float copies never exceed
    :data:`BLOCK_PIXELS`, whatever the stack's size.

    Raises
    ------
    FedXrayError
        For any other shape.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise FedXrayError(
            f"images must be (n, h, w) or (n, h, w, channels), got shape {images.shape}"
        )
    if images.dtype == np.uint8 and images.ndim == 3:
        return images
    n, h, w = images.shape[:3]
    step = max(1, BLOCK_PIXELS // (h * w))
    blocks = range(0, n, step)
    peak = max((float(_gray(images[i : i + step]).max(initial=0)) for i in blocks), default=0)
    top = 65535.0 if peak > 255 else (1.0 if peak <= 1.0 else 255.0)
    out = np.empty((n, h, w), np.uint8)
    for i in blocks:
        block = _gray(images[i : i + step])
        block *= 255.0 / top
        block += 0.5
        out[i : i + step] = np.clip(block, 0, 255, out=block)
    return out


def _gray(images: np.ndarray) -> np.ndarray:
    """A block of images as float32 gray: the mean of the first three channels, or the first."""
    if images.ndim == 4:
        if images.shape[-1] >= 3:
            return images[..., :3].mean(axis=-1, dtype=np.float32)
        images = images[..., 0]
    return images.astype(np.float32)


def resize_stack(images: np.ndarray, size: int) -> np.ndarray:
    """Resize (n, h, w) uint8 images to (n, size, size), center-cropping non-square ones."""
    n, h, w = images.shape
    if h == w == size:
        return images
    out = np.empty((n, size, size), np.uint8)
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    for i in range(n):
        img = Image.fromarray(images[i, top : top + side, left : left + side])
        out[i] = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR))
    return out


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (n, s, s) to float32 (n, s, s, 1) in 0..1, the model's input."""
    return (images.astype(np.float32) / 255.0)[..., None]
