"""Pictures for the Diagnose page: the model's input enlarged, the crop it sees, Grad-CAM on the
radiograph."""

from __future__ import annotations

import numpy as np
from PIL import Image

# A perceptually ordered ramp (dark blue -> teal -> yellow -> red) for "where the model looked".
_RAMP = np.array(
    [[48, 18, 59], [40, 120, 200], [30, 190, 160], [250, 220, 60], [230, 60, 30]], dtype=np.float32
)


def enlarge(image: np.ndarray, side: int = 336) -> np.ndarray:
    """Nearest-neighbour upscale of a small square image, so each model pixel stays a visible block.

    Parameters
    ----------
    image : np.ndarray, shape (s, s)
    side : int
        Approximate output side in pixels (a whole multiple of s, at least s).
    """
    factor = max(1, side // image.shape[0])
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """Map values in 0..1 to RGB uint8 along the ramp."""
    position = np.clip(heatmap, 0.0, 1.0) * (len(_RAMP) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(_RAMP) - 1)
    frac = (position - low)[..., None]
    return (_RAMP[low] * (1 - frac) + _RAMP[high] * frac).astype(np.uint8)


def crop_box(height: int, width: int) -> tuple[int, int, int]:
    """(top, left, side) of the central square the model sees, cropped as in imaging.decode."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def outline_crop(image: np.ndarray, color=(250, 220, 60)) -> np.ndarray:
    """The whole radiograph in gray, with the square the model sees outlined.

    Parameters
    ----------
    image : np.ndarray of uint8, shape (h, w)

    Returns
    -------
    np.ndarray of uint8, shape (h, w, 3)
    """
    out = np.repeat(image[..., None], 3, axis=2).copy()
    top, left, side = crop_box(*image.shape)
    if side == max(image.shape):
        return out  # already square: the model sees all of it
    line = max(2, side // 150)
    edges = np.zeros(image.shape, dtype=bool)
    edges[top : top + side, left : left + line] = edges[
        top : top + side, left + side - line : left + side
    ] = True
    edges[top : top + line, left : left + side] = edges[
        top + side - line : top + side, left : left + side
    ] = True
    out[edges] = color
    return out


def cam_on_radiograph(image: np.ndarray, heatmap: np.ndarray, strength: float = 0.5) -> np.ndarray:
    """Grad-CAM mapped back onto the radiograph itself, through the model's center crop.

    Parameters
    ----------
    image : np.ndarray of uint8, shape (h, w)
        The radiograph as displayed (any size and aspect ratio).
    heatmap : np.ndarray of float, shape (s, s), values 0..1
        Grad-CAM on the model's s x s input, which is the central square of ``image``.
    strength : float
        Opacity of the heat map where it is strongest.

    Returns
    -------
    np.ndarray of uint8, shape (side, side, 3)
        The central square of ``image`` at its displayed resolution, heat map blended on.
    """
    top, left, side = crop_box(*image.shape)
    square = image[top : top + side, left : left + side].astype(np.float32)
    cam = np.asarray(
        Image.fromarray(np.clip(heatmap, 0, 1).astype(np.float32), mode="F").resize(
            (side, side), Image.Resampling.BICUBIC
        )
    )
    cam = np.clip(cam, 0.0, 1.0)
    gray = np.repeat(square[..., None], 3, axis=2)
    alpha = (strength * cam**0.8)[..., None]
    blended = gray * (1 - alpha) + colorize(cam).astype(np.float32) * alpha
    return np.clip(blended, 0, 255).astype(np.uint8)
