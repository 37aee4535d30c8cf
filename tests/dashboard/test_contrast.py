"""Numbers on heatmap tiles meet WCAG AA contrast whatever the tile's colour."""

import itertools

import pytest

from dashboard.contrast import AA_RATIO, contrast_ratio, interpolate, relative_luminance, text_color


def test_luminance_and_contrast_match_the_wcag_reference_values():
    assert relative_luminance("#000000") == 0.0 and relative_luminance("#FFFFFF") == pytest.approx(
        1.0
    )
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    # WCAG's own example: #777777 on white is 4.48:1, just under AA.
    assert contrast_ratio("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize(
    "background, expected",
    [
        ("#F7F7F7", "#000000"),
        ("#1A9850", "#000000"),
        ("#2166AC", "#FFFFFF"),
        ("#B2182B", "#FFFFFF"),
        ("#FFFF00", "#000000"),
        ("#30123B", "#FFFFFF"),
    ],
)
def test_text_colour_is_dark_on_light_tiles_and_light_on_dark_ones(background, expected):
    assert text_color(background) == expected


def test_every_opaque_background_gets_text_of_at_least_aa_contrast():
    levels = range(0, 256, 17)
    for r, g, b in itertools.product(levels, levels, levels):
        background = f"#{r:02X}{g:02X}{b:02X}"
        assert contrast_ratio(background, text_color(background)) >= AA_RATIO, background


def test_interpolate_walks_the_scale():
    scale = [[0.0, "#000000"], [0.5, "#FF0000"], [1.0, "#FFFFFF"]]
    assert interpolate(scale, 0.0) == "#000000" and interpolate(scale, 1.0) == "#FFFFFF"
    assert interpolate(scale, 0.25) == "#800000" and interpolate(scale, 0.75) == "#FF8080"
    assert interpolate(scale, 2.0) == "#FFFFFF"
