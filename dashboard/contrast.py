"""Readable text on coloured tiles: WCAG 2.x relative luminance and contrast ratio.

Heatmap tiles take any colour of a scale; the number written on each must stay
readable, so its colour (black or white) is chosen per tile from the tile's luminance.
Pure functions over hex colours.
"""

from __future__ import annotations

DARK_TEXT, LIGHT_TEXT = "#000000", "#FFFFFF"
# WCAG 2.1 level AA for normal-size text.
AA_RATIO = 4.5


def rgb(color: str) -> tuple[int, int, int]:
    """'#1A9850' -> (26, 152, 80)."""
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"expected a colour as #RRGGBB, got {color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def relative_luminance(color: str) -> float:
    """WCAG relative luminance of a #RRGGBB colour, 0 (black) to 1 (white)."""

    def linear(channel: int) -> float:
        c = channel / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours, 1 (same) to 21 (black on white)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``.

    One of the two always reaches at least 4.58:1 (the worst case is a background whose
    contrast is equal with both), so the chosen text passes WCAG AA on any opaque tile.
    """
    return (
        DARK_TEXT
        if contrast_ratio(background, DARK_TEXT) >= contrast_ratio(background, LIGHT_TEXT)
        else LIGHT_TEXT
    )


def interpolate(scale: list[tuple[float, str]], t: float) -> str:
    """The colour at ``t`` (0..1) of a Plotly-style colour scale [[position, '#RRGGBB'], ...]."""
    t = min(max(t, 0.0), 1.0)
    for (p0, c0), (p1, c1) in zip(scale, scale[1:]):
        if t <= p1:
            f = 0.0 if p1 == p0 else (t - p0) / (p1 - p0)
            mixed = [round(x0 + (x1 - x0) * f) for x0, x1 in zip(rgb(c0), rgb(c1))]
            return "#{:02X}{:02X}{:02X}".format(*mixed)
    return scale[-1][1]
