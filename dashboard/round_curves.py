"""The Train page's metric-by-round panels, drawn as inline SVG on the server.

The live Train page redraws these panels every round while the training runs on the
same cores as the browser. Six Plotly figures cost headless Chromium about 0.3 of a
core through a default run (Plotly lays out and draws every figure afresh each round,
and Streamlit remounts a chart whose figure changed); the same panels as a few hundred
bytes of SVG each cost it almost nothing, so the watched run trains nearly as fast as
one from the command line. A point's value shows on hover (an SVG ``<title>``), and
the panels sit in a CSS grid that puts three side by side on a wide screen and one
under another on a phone. Axis text takes the page's own text colour, so the panels
read on the light and the dark theme alike.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from dashboard.theme import METRIC_LABELS, RATE_METRICS, hospital_color, scope_label

# The SVG's own coordinate box; the browser scales it to the grid cell's width.
WIDTH, HEIGHT = 420, 230
LEFT, RIGHT, TOP, BOTTOM = 42, 12, 34, 26
# More hospitals than this: each panel draws the global model, the worst and the best hospital
# (by the latest round's accuracy on their own test sets) and the hospitals asked for by name.
MAX_HOSPITAL_LINES = 6
GRID_STYLE = ("display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,380px),1fr));"
              "gap:4px 18px;margin:4px 0 8px 0")


def worst_and_best(frame: pd.DataFrame) -> tuple[str, str] | None:
    """(worst, best) hospital by the latest round's accuracy on its own test set.

    None when there are :data:`MAX_HOSPITAL_LINES` hospitals or fewer: the panels then draw every one.
    """
    hospitals = {s for s in frame["scope"] if not s.startswith("global")}
    if len(hospitals) <= MAX_HOSPITAL_LINES:
        return None
    latest = frame[(frame["round"] == frame["round"].max()) & frame["scope"].isin(hospitals)]
    ranked = latest.dropna(subset=["accuracy"]).sort_values(["accuracy", "scope"])["scope"].tolist()
    return (ranked[0], ranked[-1]) if ranked else None


def shown_scopes(frame: pd.DataFrame, asked: tuple[str, ...] = ()) -> list[str]:
    """The scopes a panel draws: every one for a few hospitals; for many, the global model, worst, best and ``asked``.

    Parameters
    ----------
    frame : pd.DataFrame
        :func:`fedcore.report.metrics_frame` rows: round, scope, one column per metric.
    asked : tuple of str
        Hospitals the viewer picked to see as well.

    Returns
    -------
    list of str
        Scopes in drawing order (hospitals by number, the global model last so that it lies on top).
        A local-mode run's ``global:hospital_k`` line follows its hospital.
    """
    scopes = sorted(set(frame["scope"]), key=_order)
    extremes = worst_and_best(frame)
    if extremes is None:
        return scopes
    keep = set(asked) | set(extremes)
    return [s for s in scopes if s == "global" or s.split(":", 1)[-1] in keep]


def panels_html(frame: pd.DataFrame, metrics: tuple[str, ...], scopes: list[str], rounds_total: int) -> str:
    """Every metric's panel in one responsive grid: the HTML for one ``st.html`` call.

    Parameters
    ----------
    frame : pd.DataFrame
        :func:`fedcore.report.metrics_frame` rows.
    metrics : tuple of str
        The columns to draw, one panel each.
    scopes : list of str
        The scopes to draw (:func:`shown_scopes`).
    rounds_total : int
        The run's length: the x axis spans it from round 1, so the curves grow into a fixed frame.
    """
    rows = frame[frame["scope"].isin(scopes)]
    cells = "".join(f"<div>{panel_svg(rows, m, scopes, rounds_total)}</div>" for m in metrics)
    return f"<div class='fx-curves' style='{GRID_STYLE}'>{cells}</div>"


def panel_svg(frame: pd.DataFrame, metric: str, scopes: list[str], rounds_total: int) -> str:
    """One metric over rounds as an SVG: a line per scope, the global model thick and on top.

    Built from the same rows it gives the same text, so a refresh that sends it again
    hands the browser nothing new to draw.
    """
    values = pd.to_numeric(frame[metric], errors="coerce") if metric in frame else pd.Series(dtype=float)
    low, high, ticks = _y_scale(metric, values.dropna())
    last = max(int(rounds_total), 1)
    x_of = _scale(0.7, last + 0.3, LEFT, WIDTH - RIGHT)
    y_of = _scale(low, high, HEIGHT - BOTTOM, TOP)
    label = METRIC_LABELS.get(metric, metric)
    parts = [f"<svg class='fx-curve' viewBox='0 0 {WIDTH} {HEIGHT}' width='100%' role='img' "
             f"aria-label='{html.escape(label)} by round' style='display:block;font-family:inherit'>",
             f"<text x='2' y='18' font-size='15' font-weight='600' fill='currentColor'>{html.escape(label)}</text>"]
    for tick in ticks:
        y = y_of(tick)
        parts.append(f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y:.1f}' y2='{y:.1f}' stroke='currentColor' "
                     f"stroke-opacity='0.12'/><text x='{LEFT - 6}' y='{y + 4:.1f}' font-size='11' "
                     f"text-anchor='end' fill='currentColor' fill-opacity='0.7'>{tick:.2f}</text>")
    step = 1 if last <= 12 else math.ceil(last / 10)
    for r in range(1, last + 1, step):
        parts.append(f"<text x='{x_of(r):.1f}' y='{HEIGHT - 8}' font-size='11' text-anchor='middle' "
                     f"fill='currentColor' fill-opacity='0.7'>{r}</text>")
    for scope in scopes:
        part = frame[frame["scope"] == scope].sort_values("round")
        points = [(int(r), float(v)) for r, v in zip(part["round"], pd.to_numeric(part[metric], errors="coerce"))
                  if not math.isnan(float(v))] if metric in part else []
        if points:
            parts.append(_series(scope, points, x_of, y_of))
    parts.append("</svg>")
    return "".join(parts)


def _series(scope: str, points: list[tuple[int, float]], x_of, y_of) -> str:
    color, name = hospital_color(scope), html.escape(scope_label(scope))
    is_global = scope == "global"
    width, radius = (3.5, 4.5) if is_global else (2, 3.2)
    dash = " stroke-dasharray='2 4'" if ":" in scope else ""
    line = " ".join(f"{x_of(r):.1f},{y_of(v):.1f}" for r, v in points)
    dots = "".join(f"<circle class='fx-point' cx='{x_of(r):.1f}' cy='{y_of(v):.1f}' r='{radius}'>"
                   f"<title>{name}, round {r}: {v:.3f}</title></circle>" for r, v in points)
    return (f"<g class='fx-series' fill='{color}'><polyline points='{line}' fill='none' stroke='{color}' "
            f"stroke-width='{width}' stroke-linejoin='round'{dash}><title>{name}</title></polyline>{dots}</g>")


def _y_scale(metric: str, values: pd.Series) -> tuple[float, float, list[float]]:
    if metric in RATE_METRICS:
        return 0.0, 1.02, [0.0, 0.25, 0.5, 0.75, 1.0]
    top = float(values.max()) if len(values) else 1.0
    step = _nice_step(top / 4 if top > 0 else 0.25)
    ticks = [i * step for i in range(int(top / step) + 2)]
    return 0.0, ticks[-1], ticks


def _nice_step(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _scale(lo: float, hi: float, out_lo: float, out_hi: float):
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


def _order(scope: str) -> tuple:
    # Hospitals by number, then the local models' global-test lines, then the global model (on top).
    digits = "".join(ch for ch in scope if ch.isdigit())
    return (scope == "global", scope.startswith("global"), int(digits) if digits else 0, scope)
