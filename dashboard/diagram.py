"""The Overview's picture of the hospital boundary: what crosses it (weights, counts) and what never
does."""

from __future__ import annotations

from html import escape

from dashboard.theme import GLOBAL_COLOR, STRATEGY_NAMES, hospital_color, scope_label


def _size(nbytes: int | None) -> str:
    if not nbytes:
        return "model weights"
    if nbytes >= 1_000_000:
        return f"{nbytes / 1_000_000:.1f} MB of weights"
    return f"{nbytes / 1_000:.0f} kB of weights"


def boundary_svg(
    train_counts: dict[str, int], bytes_per_update: int | None = None, strategy: str = "fedavg"
) -> str:
    """An SVG of hospitals, the boundary, and the server, sized to the number of hospitals.

    Parameters
    ----------
    train_counts : dict of hospital name to int
        Training images each hospital keeps (shown inside its box: they never leave it).
    bytes_per_update : int, optional
        Size of one hospital's weight update, from a run's fit log; words when unknown.
    strategy : str
        The run's aggregation strategy, named in the server's box.

    Returns
    -------
    str
        An inline ``<svg>`` whose text takes the page's colour (light or dark theme).
    """
    names = list(train_counts)
    name = STRATEGY_NAMES.get(strategy, strategy)
    fedavg = strategy == "fedavg"
    row, top = 74, 34
    height = top + row * len(names) + 10
    server_y = top + (row * len(names)) / 2 - 46
    parts = [
        f'<svg viewBox="0 0 860 {height}" width="100%" xmlns="http://www.w3.org/2000/svg" '
        'style="font-family:sans-serif;color:inherit;max-width:920px" role="img" '
        'aria-label="Hospitals send model weights and counts to the server; images stay in the '
        'hospitals">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="currentColor"/></marker></defs>',
        '<text x="10" y="18" font-size="13" fill="currentColor" opacity="0.7">INSIDE EACH '
        "HOSPITAL</text>",
        '<text x="610" y="18" font-size="13" fill="currentColor" opacity="0.7">AGGREGATION '
        "SERVER</text>",
        f'<line x1="300" y1="6" x2="300" y2="{height - 4}" stroke="currentColor" '
        'stroke-dasharray="6 5" opacity="0.5"/>',
        f'<text x="306" y="{height - 10}" font-size="12" fill="currentColor" '
        'opacity="0.7">hospital boundary</text>',
    ]
    for i, name in enumerate(names):
        y = top + i * row
        color = hospital_color(name)
        parts += [
            f'<rect x="10" y="{y}" width="270" height="{row - 16}" rx="10" fill="{color}" '
            'fill-opacity="0.14" '
            f'stroke="{color}" stroke-width="2"/>',
            f'<text x="24" y="{y + 24}" font-size="16" font-weight="600" '
            f'fill="{color}">{escape(scope_label(name))}</text>',
            f'<text x="24" y="{y + 45}" font-size="13" fill="currentColor">{train_counts[name]:,} '
            "X-rays and labels stay here</text>",
            f'<line x1="284" y1="{y + 20}" x2="596" y2="{server_y + 40}" stroke="{color}" '
            'stroke-width="2" '
            'marker-end="url(#arrow)"/>',
            f'<line x1="596" y1="{server_y + 56}" x2="284" y2="{y + 40}" stroke="{GLOBAL_COLOR}" '
            'stroke-width="1.5" '
            'stroke-dasharray="4 3" marker-end="url(#arrow)"/>',
        ]
    label_y = top + 8
    parts += [
        f'<rect x="600" y="{server_y}" width="250" height="96" rx="12" fill="{GLOBAL_COLOR}" '
        'fill-opacity="0.16" '
        f'stroke="{GLOBAL_COLOR}" stroke-width="2"/>',
        f'<text x="616" y="{server_y + 28}" font-size="16" font-weight="600" '
        'fill="currentColor">Server: '
        f"{escape(name)}</text>",
        f'<text x="616" y="{server_y + 50}" font-size="13" fill="currentColor">'
        f"{'weighted mean of the updates,' if fedavg else 'combines the updates,'}</text>",
        f'<text x="616" y="{server_y + 68}" font-size="13" fill="currentColor">'
        f"{'weights = image counts n' if fedavg else 'by the ' + name + ' rule'}</text>",
        f'<text x="616" y="{server_y + 86}" font-size="12" fill="currentColor" opacity="0.7">never '
        "sees an image</text>",
        f'<text x="318" y="{label_y}" font-size="13" fill="currentColor">↗ up: '
        f"{escape(_size(bytes_per_update))} + n</text>",
        f'<text x="318" y="{label_y + 18}" font-size="13" fill="currentColor" opacity="0.75">↙ '
        "down: the new global "
        "weights</text>",
        "</svg>",
    ]
    return "".join(parts)
