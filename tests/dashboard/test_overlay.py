"""Grad-CAM mapped back onto the radiograph through the same center crop the model's input went
through."""

from io import BytesIO

import numpy as np
from PIL import Image

from dashboard.overlay import cam_on_radiograph, crop_box, outline_crop
from fedcore.imaging.decode import decode_image


def test_crop_box_is_the_square_the_model_sees():
    # A wide image whose central square is bright: the model's view must be all bright.
    image = np.zeros((60, 100), dtype=np.uint8)
    top, left, side = crop_box(*image.shape)
    assert (top, left, side) == (0, 20, 60)
    image[top : top + side, left : left + side] = 200
    buffer = BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    assert decode_image(buffer.getvalue(), 28).min() >= 190


def test_cam_lands_where_the_model_looked_on_the_radiograph():
    image = np.full((300, 500), 100, dtype=np.uint8)  # tall crop: the central 300x300
    heat = np.zeros((28, 28))
    heat[:, :7] = 1.0  # the model looked at the left quarter of its input
    out = cam_on_radiograph(image, heat)
    assert out.shape == (300, 300, 3)
    tinted = np.abs(out.astype(int) - 100).sum(axis=2) > 30
    assert tinted[:, :60].mean() > 0.9 and tinted[:, 120:].mean() < 0.05


def test_outline_marks_the_crop_only_when_the_image_is_not_square():
    wide = outline_crop(np.zeros((50, 80), dtype=np.uint8))
    assert (wide[:, 15] != 0).any() and (wide[:, 0] == 0).all()
    square = outline_crop(np.zeros((50, 50), dtype=np.uint8))
    assert (square == 0).all()
