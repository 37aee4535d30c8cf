"""Stacks of images brought to the model's grid: uint8 grayscale, square, then float input."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fedcore.errors import FedXrayError


def gray_uint8(images: np.ndarray) -> np.ndarray:
    """(n, h, w) or (n, h, w, channels) images of any numeric type to (n, h, w) uint8 grayscale.

    Colour is averaged over its first three channels; values are scaled from their
    apparent range (0..1, 0..255 or 16-bit), since a .npz does not say which it holds.

    Raises
    ------
    FedXrayError
        For any other shape.
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., :3].mean(axis=-1) if images.shape[-1] >= 3 else images[..., 0]
    if images.ndim != 3:
        raise FedXrayError(
            f"images must be (n, h, w) or (n, h, w, channels), got shape {images.shape}"
        )
    if images.dtype != np.uint8:
        top = (
            65535.0
            if images.max(initial=0) > 255
            else (1.0 if images.max(initial=0) <= 1.0 else 255.0)
        )
        images = np.clip(images.astype(np.float32) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return images


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
