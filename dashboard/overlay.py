"""Pictures for the Diagnose page: the model's input enlarged, and a Grad-CAM overlay. NumPy only."""

from __future__ import annotations

import numpy as np

# A perceptually ordered ramp (dark blue -> teal -> yellow -> red) for "where the model looked".
_RAMP = np.array([[48, 18, 59], [40, 120, 200], [30, 190, 160], [250, 220, 60], [230, 60, 30]], dtype=np.float32)


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


def grad_cam_overlay(image: np.ndarray, heatmap: np.ndarray, side: int = 336, strength: float = 0.55) -> np.ndarray:
    """The X-ray in gray with the heat map blended on top where the model looked.

    Parameters
    ----------
    image : np.ndarray of uint8, shape (s, s)
    heatmap : np.ndarray of float, shape (s, s), values 0..1
    side : int
        Approximate output side in pixels.
    strength : float
        Opacity of the heat map where it is strongest; cold areas stay mostly gray.

    Returns
    -------
    np.ndarray of uint8, shape (S, S, 3)
    """
    gray = np.repeat(image[..., None].astype(np.float32), 3, axis=2)
    alpha = (strength * np.clip(heatmap, 0.0, 1.0) ** 0.8)[..., None]
    blended = gray * (1 - alpha) + colorize(heatmap).astype(np.float32) * alpha
    return enlarge(np.clip(blended, 0, 255).astype(np.uint8), side)
