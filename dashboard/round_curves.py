"""The Train page's round-by-round curves: which hospitals they draw, and one Plotly figure per
metric.

The live Train page shows these while the training runs on the same cores as the
browser, so they must cost the browser little: each figure is built once a round (the
live view caches it on the rounds done) and is the same object between two rounds, so
Streamlit keeps the chart the browser already drew; only a round that lands mounts and
draws the six figures afresh. With many hospitals a figure draws the global model, the
worst and the best hospital and the ones the viewer asks for, so it stays readable.

The y axis is fitted to the values drawn (:func:`y_range`): on a fixed 0-1 axis the curves of
a run that learned lay in its top fifth, one hospital hidden under the global model's line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go

from dashboard.theme import METRIC_LABELS, RATE_METRICS, hospital_color, scope_label
from fedcore.results.scope import Scope, is_global_test

# More hospitals than this: each panel draws the global model, the worst and the best hospital
# (by the latest round's accuracy on their own test sets) and the hospitals asked for by name.
MAX_HOSPITAL_LINES = 6
# A rate's axis snaps to tenths and spans at least this much, so that a difference of a few
# hundredths does not fill a panel.
RATE_STEP, MIN_RATE_SPAN = 0.1, 0.2


def worst_and_best(frame: pd.DataFrame) -> tuple[str, str] | None:
    """(worst, best) hospital by the latest round's accuracy on its own test set.

    None when there are :data:`MAX_HOSPITAL_LINES` hospitals or fewer: the panels then draw every
    one.
    """
    hospitals = {s for s in frame["scope"] if not is_global_test(s)}
    if len(hospitals) <= MAX_HOSPITAL_LINES:
        return None
    latest = frame[(frame["round"] == frame["round"].max()) & frame["scope"].isin(hospitals)]
    ranked = latest.dropna(subset=["accuracy"]).sort_values(["accuracy", "scope"])["scope"].tolist()
    return (ranked[0], ranked[-1]) if ranked else None


def shown_scopes(frame: pd.DataFrame, asked: tuple[str, ...] = ()) -> list[str]:
    """The scopes a panel draws: every one for a few hospitals; for many, the global model, worst,
    best and ``asked``.

    Parameters
    ----------
    frame : pd.DataFrame
        :func:`fedcore.results.report.metrics_frame` rows: round, scope, one column per metric.
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
    return [s for s in scopes if s == "global" or Scope.parse(s).hospital in keep]


def metric_figure(
    frame: pd.DataFrame, metric: str, scopes: list[str], rounds_total: int, height: int = 250
) -> go.Figure:
    """One metric over rounds as a Plotly figure: a line per scope, the global model thick and on
    top.

    The x axis spans the whole run from round 1, so the curves grow into a fixed frame
    instead of rescaling every round; the y axis is fitted to the values drawn
    (:func:`y_range`). Built from the same rows it gives the same figure, so a refresh
    between two rounds hands Streamlit the same chart and the browser keeps the one it drew
    (a changed figure is mounted and drawn afresh).

    Parameters
    ----------
    frame : pd.DataFrame
        :func:`fedcore.results.report.metrics_frame` rows.
    metric : str
        The column to draw.
    scopes : list of str
        The scopes to draw (:func:`shown_scopes`), in drawing order.
    rounds_total : int
        The run's length.
    height : int
        Pixels.
    """
    fig = go.Figure()
    last = max(int(rounds_total), 1)
    drawn: list[float] = []
    for scope in scopes:
        part = frame[frame["scope"] == scope].sort_values("round")
        if metric not in part or part[metric].isna().all():
            continue
        is_global, name = scope == "global", scope_label(scope)
        values = pd.to_numeric(part[metric], errors="coerce").tolist()
        drawn += values
        fig.add_scatter(
            x=part["round"].tolist(),
            y=values,
            name=name,
            mode="lines+markers",
            showlegend=False,
            # Translucent, so a hospital whose curve runs along the global model's still shows.
            opacity=0.8 if is_global else 1.0,
            line=dict(
                color=hospital_color(scope),
                width=4 if is_global else 2,
                dash="dot" if ":" in scope else "solid",
            ),
            marker=dict(size=7 if is_global else 5),
            hovertemplate=f"{name}, round %{{x}}: %{{y:.3f}}<extra></extra>",
        )
    fig.update_xaxes(
        range=[0.7, last + 0.3],
        dtick=1 if last <= 12 else None,
        title=dict(text="round", standoff=4, font=dict(size=12)),
        automargin=True,
        fixedrange=True,
    )
    fig.update_yaxes(range=list(y_range(metric, drawn)), fixedrange=True)
    fig.update_layout(
        height=height,
        margin=dict(l=8, r=8, t=30, b=8),
        hovermode="closest",
        title=dict(text=METRIC_LABELS.get(metric, metric), font=dict(size=15)),
    )
    return fig


def y_range(metric: str, values: Iterable[float]) -> tuple[float, float]:
    """The y range of a metric's panel: the values drawn, with room, snapped to a step.

    A rate (accuracy, AUROC, ...) snaps to tenths inside 0-1 and spans at least
    :data:`MIN_RATE_SPAN`; the loss snaps to a round step of its largest value. The range
    spans every round so far, so it only moves when a round's value crosses a step, never
    between two rounds, and a frame whose rounds all lie inside it keeps it.

    Parameters
    ----------
    metric : str
        A metric name (:data:`dashboard.theme.RATE_METRICS`, or the loss).
    values : iterable of float
        Every value the panel draws; NaN and None are skipped.

    Returns
    -------
    (float, float)
        The axis range, with a margin of 3% either side so that a dot on the edge shows whole.
        (0, 1) with that margin before any value.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    is_rate = metric in RATE_METRICS
    if not finite:
        low, high = 0.0, 1.0
    else:
        lo, hi = min(finite), max(finite)
        step = RATE_STEP if is_rate else _nice_step(hi / 4 if hi > 0 else 0.25)
        # Room of a fifth of a step, so a value just under a gridline does not touch the frame.
        low = math.floor(round((lo - step / 5) / step, 6)) * step
        high = math.ceil(round((hi + step / 5) / step, 6)) * step
        low = max(low, 0.0)
        if is_rate:
            high = min(high, 1.0)
            low = max(0.0, min(low, high - MIN_RATE_SPAN))
            high = max(high, low + MIN_RATE_SPAN)
        low, high = round(low, 6), round(high, 6)
    edge = (high - low) * 0.03
    return low - edge, high + edge


def _nice_step(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _order(scope: str) -> tuple:
    # Hospitals by number, then the local models' global-test lines, then the global model (on top).
    digits = "".join(ch for ch in scope if ch.isdigit())
    return (scope == "global", is_global_test(scope), int(digits) if digits else 0, scope)
