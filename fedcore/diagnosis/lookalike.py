"""Does an uploaded image look like the chest X-rays the model learnt from?

The model scores any picture it is given; a photo of a cat gets a P(pneumonia) too.
This module says when an upload is unlike the training radiographs (tiny, in colour,
nearly uniform, or with statistics far from theirs), so the dashboard can warn
beside the score. It also finds near-duplicates of an image in a set of 28x28
images, which is how the sample radiographs were held out of the embedded data.

Pure numpy and PIL: no Keras, no Streamlit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from fedcore.imaging.decode import is_dicom, to_gray_float

# Chest radiographs are hundreds to thousands of pixels a side; below this an
# upload is a thumbnail or an icon, whatever it shows.
MIN_SIDE = 128
# Mean over pixels of (max - min) of R, G, B, in 0..1: grayscale saved as RGB
# (or with a faint tint from a scanner's JPEG) stays far below this.
MAX_CHROMA = 0.06
# Pixel standard deviation (0..1) below which an image is nearly one grey.
MIN_STD = 0.02
# The share of the training images kept inside each statistic's accepted range, both ends.
TAIL = 0.005
# Mean absolute difference in grey levels (0..255) at 28x28 below which two
# images are the same radiograph. Measured: the 16 samples' twins in
# PneumoniaMNIST lie at 2.5-4.8, every other image at 10 or more.
TWIN_DISTANCE = 7.0
COMPARE_SIDE = 28


@dataclass(frozen=True)
class Reference:
    """What the training radiographs look like at 28x28, in 0..1 grey.

    Attributes
    ----------
    mean_image : np.ndarray, shape (28, 28)
        The pixel-wise mean of the training images: dark lungs either side of a bright
        mediastinum, the layout every chest radiograph shares.
    min_correlation : float
        The correlation with ``mean_image`` below which only ``TAIL`` of the training images fall.
    brightness : tuple of float
        The accepted range of an image's mean grey.
    """

    mean_image: np.ndarray
    min_correlation: float
    brightness: tuple[float, float]


@dataclass(frozen=True)
class ImageCheck:
    """The result of :func:`check_upload`: empty ``warnings`` means it looks like a chest X-ray."""

    warnings: tuple[str, ...]
    width: int
    height: int
    correlation: float

    @property
    def looks_like_xray(self) -> bool:
        """True when nothing set the image apart from the training radiographs."""
        return not self.warnings


def reference_from_images(images: np.ndarray) -> Reference:
    """The :class:`Reference` of a set of uint8 images of shape (n, 28, 28)."""
    x = images.astype(np.float32) / 255.0
    mean_image = x.mean(axis=0)
    correlations = correlation(x, mean_image)
    means = x.mean(axis=(1, 2))
    return Reference(
        mean_image,
        float(np.quantile(correlations, TAIL)),
        (float(np.quantile(means, TAIL)), float(np.quantile(means, 1 - TAIL))),
    )


@lru_cache(maxsize=1)
def embedded_reference() -> Reference:
    """The reference of the embedded training split (loaded once per process)."""
    from fedcore.data import EMBEDDED_NPZ

    with np.load(EMBEDDED_NPZ) as npz:
        return reference_from_images(npz["train_images"])


def correlation(images: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Pearson correlation of each image (..., h, w) with a template (h, w); 0 for a flat image."""
    a = images - images.mean(axis=(-2, -1), keepdims=True)
    b = template - template.mean()
    norm = np.sqrt((a * a).sum(axis=(-2, -1)) * (b * b).sum())
    return np.where(norm > 0, (a * b).sum(axis=(-2, -1)) / np.maximum(norm, 1e-12), 0.0)


def check_upload(data: bytes, view: np.ndarray, reference: Reference | None = None) -> ImageCheck:
    """Say what, if anything, sets an upload apart from the training chest X-rays.

    Parameters
    ----------
    data : bytes
        The file as uploaded (PNG, JPEG or DICOM), already known to decode.
    view : np.ndarray of uint8, shape (s, s)
        The square grayscale image the model scores (``fedcore.imaging.decode.decode_image``).
    reference : Reference, optional
        Default: :func:`embedded_reference`.

    Returns
    -------
    ImageCheck
        One plain sentence per finding; none for an image like the training radiographs.
    """
    reference = reference or embedded_reference()
    width, height, chroma, std = _facts(data)
    small = _to_compare_side(view)
    corr = float(correlation(small, reference.mean_image))
    found = []
    if min(width, height) < MIN_SIDE:
        found.append(
            f"The image is only {width}×{height} pixels; chest radiographs are hundreds to "
            "thousands of pixels a side."
        )
    if chroma > MAX_CHROMA:
        found.append("The image is in colour; chest radiographs are grayscale.")
    if std < MIN_STD:
        found.append("The image is nearly one uniform grey: there is no anatomy to score.")
    else:
        low, high = reference.brightness
        if corr < reference.min_correlation:
            found.append(
                "Its layout is unlike a frontal chest X-ray (lungs either side of a bright "
                f"mediastinum): its correlation with the average training image is {corr:.2f}, "
                f"below that of {1 - TAIL:.1%} of the training images "
                f"({reference.min_correlation:.2f})."
            )
        if not low <= small.mean() <= high:
            found.append(
                f"Its brightness ({small.mean():.2f}) is outside the range of the training "
                f"images ({low:.2f}-{high:.2f})."
            )
    return ImageCheck(tuple(found), width, height, corr)


def _facts(data: bytes) -> tuple[int, int, float, float]:
    """Width, height, colourfulness and grey standard deviation (0..1) of the file.

    Read from a 256-pixel thumbnail, not the full image (cheap), nor the model's 28x28 view
    (where fine random noise averages out to a flat grey).
    """
    if is_dicom(data):
        import pydicom

        from fedcore.imaging.decode import decode_image

        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        colour = int(getattr(ds, "SamplesPerPixel", 1)) > 1
        std = float(decode_image(data, 256).std() / 255.0)
        return int(ds.Columns), int(ds.Rows), 1.0 if colour else 0.0, std
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            # 16-bit grayscale: PIL can neither thumbnail nor RGB-convert it faithfully.
            gray = to_gray_float(image)
            step = max(1, max(gray.shape) // 256)
            return width, height, 0.0, float(gray[::step, ::step].std())
        image.draft("RGB", (256, 256))
        image.thumbnail((256, 256))
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    gray = (
        np.asarray(Image.fromarray((rgb * 255).astype(np.uint8)).convert("L"), dtype=np.float32)
        / 255.0
    )
    return width, height, float((rgb.max(axis=-1) - rgb.min(axis=-1)).mean()), float(gray.std())


def _to_compare_side(view: np.ndarray) -> np.ndarray:
    if view.shape != (COMPARE_SIDE, COMPARE_SIDE):
        view = np.asarray(
            Image.fromarray(view).resize((COMPARE_SIDE, COMPARE_SIDE), Image.Resampling.BILINEAR)
        )
    return view.astype(np.float32) / 255.0


def twin_distances(image: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Mean absolute difference in grey levels between one 28x28 image and each of ``images``.

    Parameters
    ----------
    image : np.ndarray of uint8, shape (28, 28)
    images : np.ndarray of uint8, shape (n, 28, 28)

    Returns
    -------
    np.ndarray of float, shape (n,)
        Below ``TWIN_DISTANCE``: the same radiograph (resized twice, JPEG-compressed).
    """
    return np.abs(images.astype(np.float32) - image.astype(np.float32)).mean(axis=(1, 2))


def sample_paths(folder: Path) -> list[Path]:
    """The sample radiographs under ``folder`` (``LABEL/*.jpeg``), in a fixed order."""
    return sorted(folder.glob("*/*.jpeg"))
