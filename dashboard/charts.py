"""Plotly figure builders: pure functions from run-store data to figures.

Every figure leaves its background and fonts to Streamlit's theme (light or dark) and
takes hospital colours from :mod:`dashboard.theme`, so a hospital looks the same on
every page.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.theme import (CLASS_COLORS, GLOBAL_COLOR, METRIC_LABELS, RATE_METRICS, RUN_COLORS,
                             hospital_color, scope_label)

# No mode bar: less to draw on every page switch; zoom and hover still work.
PLOT_CONFIG = {"displayModeBar": False}
HEATMAP_METRICS = ("accuracy", "auroc", "sensitivity", "specificity", "precision", "f1", "f1_avg")
# Red for poor, green for good, readable in both themes (text is auto-contrasted by Plotly).
RATE_SCALE = [[0.0, "#B2182B"], [0.5, "#F4D35E"], [0.75, "#A6D96A"], [1.0, "#1A9850"]]


def dot_label(scope: str) -> str:
    """A scope's label with a dot in its colour, for axis ticks and legends."""
    return f"<span style='color:{hospital_color(scope)}'>●</span> {scope_label(scope)}"


def _layout(fig: go.Figure, height: int, title: str | None = None, top: int | None = None, **extra) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=8, r=8, t=top if top is not None else 40 if title else 10, b=8),
                      title=dict(text=title, font=dict(size=15)) if title else None,
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), **extra)
    return fig


def class_balance(summary: dict, split: str = "train") -> go.Figure:
    """NORMAL and PNEUMONIA images per hospital in one split, side by side, each count beside its bar.

    Side by side rather than stacked: a hospital with 1% NORMAL images would show its count
    in a sliver too thin to read.

    Parameters
    ----------
    summary : dict
        A run's ``data_summary`` (or ``Federation.summary()``): ``hospitals`` maps a
        name to per-split class counts.
    split : str
        'train', 'val' or 'test'.
    """
    names = list(summary["hospitals"])
    fig = go.Figure()
    for cls in ("NORMAL", "PNEUMONIA"):
        counts = [summary["hospitals"][h][split][cls] for h in names]
        fig.add_bar(y=[dot_label(h) for h in names], x=counts, name=cls, orientation="h",
                    marker_color=CLASS_COLORS[cls], text=[f"{c:,}" for c in counts], textposition="outside",
                    cliponaxis=False)
    most = max((summary["hospitals"][h][split][c] for h in names for c in CLASS_COLORS), default=1)
    fig.update_layout(barmode="group", yaxis=dict(autorange="reversed"), xaxis_title=f"{split} images",
                      legend_traceorder="normal")
    fig.update_xaxes(range=[0, most * 1.18])  # room for the count outside the longest bar
    return _layout(fig, 110 + 62 * len(names))


def pneumonia_share(summary: dict, split: str = "train") -> go.Figure:
    """Share of PNEUMONIA images per hospital (the non-IID skew) against the global test set's.

    The global test set's share is a dashed line named in the legend above the plot, not
    a label on the plot, where it would sit on a hospital's bar.
    """
    names = list(summary["hospitals"])
    labels = [dot_label(h) for h in names]
    shares = []
    for h in names:
        c = summary["hospitals"][h][split]
        total = c["NORMAL"] + c["PNEUMONIA"]
        shares.append(c["PNEUMONIA"] / total if total else 0.0)
    fig = go.Figure(go.Bar(x=labels, y=shares, marker_color=[hospital_color(h) for h in names],
                           text=[f"{s:.0%}" for s in shares], textposition="outside", cliponaxis=False,
                           showlegend=False, hovertemplate="%{x}: %{y:.1%} pneumonia<extra></extra>"))
    g = summary.get("global_test")
    if g and g["NORMAL"] + g["PNEUMONIA"]:
        share = g["PNEUMONIA"] / (g["NORMAL"] + g["PNEUMONIA"])
        line = dict(color=GLOBAL_COLOR, dash="dash", width=2)
        fig.add_hline(y=share, line=line)
        # The line across the whole plot has no legend entry of its own: an empty trace names it.
        fig.add_scatter(x=[None], y=[None], mode="lines", line=line, name=f"global test set: {share:.0%}")
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title="pneumonia share")
    fig = _layout(fig, 110 + 62 * max(len(names), 3), top=40, showlegend=True)
    fig.update_layout(legend=dict(y=1.0, yanchor="bottom"))
    return fig


def _ordered(scopes) -> list[str]:
    return sorted(set(scopes), key=lambda s: (s != "global", not s.startswith("global"), s))


def metric_panel(frame: pd.DataFrame, metric: str, height: int = 250) -> go.Figure:
    """One metric over rounds, a line per scope (global thick and on top, hospitals in their colours).

    One small figure per metric, not one grid figure: Streamlit's columns put them side by
    side on a wide screen and stack them in one column on a narrow one, which a single
    Plotly grid cannot do. Built from the same frame it gives the same figure, so a live
    page that redraws it every refresh hands the browser nothing new to paint.

    Parameters
    ----------
    frame : pd.DataFrame
        :func:`fedcore.report.metrics_frame` rows: round, scope, one column per metric.
    metric : str
        The column to plot.
    height : int
        Pixels.
    """
    fig = go.Figure()
    last = 1 if frame.empty else int(frame["round"].max())
    for scope in reversed(_ordered(frame["scope"]) if len(frame) else []):  # global last: drawn on top
        part = frame[frame["scope"] == scope].sort_values("round")
        is_global = scope == "global"
        fig.add_scatter(x=part["round"].tolist(), y=part[metric].tolist(), name=scope_label(scope),
                        mode="lines+markers", showlegend=False,
                        line=dict(color=hospital_color(scope), width=4 if is_global else 2,
                                  dash="solid" if is_global or ":" not in scope else "dot"),
                        marker=dict(size=7 if is_global else 5),
                        hovertemplate=f"{scope_label(scope)} round %{{x}}: %{{y:.3f}}<extra></extra>")
    fig.update_xaxes(dtick=1 if last <= 12 else None, range=[0.8, last + 0.2], title=None)
    if metric in RATE_METRICS:
        fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, height, METRIC_LABELS.get(metric, metric), top=34)


def scope_legend(scopes) -> str:
    """One HTML line naming each scope in its colour: the shared legend of the metric panels."""
    return " &nbsp; ".join(dot_label(s) for s in _ordered(scopes))


def fairness_heatmap(rows: dict[str, dict]) -> go.Figure:
    """Hospitals x metrics of one round, values written in the cells (the original Figure 2).

    Parameters
    ----------
    rows : dict of scope to metrics
        Each hospital's metrics on its own test set; a 'global' entry adds a reference row.
    """
    scopes = list(rows)
    z = [[_nan_none(rows[s].get(m)) for m in HEATMAP_METRICS] for s in scopes]
    fig = go.Figure(go.Heatmap(
        z=z, x=[METRIC_LABELS[m] for m in HEATMAP_METRICS], y=[dot_label(s) for s in scopes],
        zmin=0, zmax=1, colorscale=RATE_SCALE, texttemplate="%{z:.3f}", textfont=dict(size=14),
        hovertemplate="%{y}<br>%{x}: %{z:.4f}<extra></extra>", xgap=3, ygap=3,
        colorbar=dict(thickness=12, len=0.9)))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top")
    return _layout(fig, 70 + 52 * len(scopes))


def confusion_matrices(rows: dict[str, dict], height: int = 270) -> go.Figure:
    """One 2x2 matrix per scope (rows actual, columns predicted), each tinted in its scope's colour.

    Parameters
    ----------
    rows : dict of scope to metrics
        tn, fp, fn, tp of each scope (global and each hospital).
    """
    scopes = list(rows)
    fig = make_subplots(rows=1, cols=len(scopes), subplot_titles=[dot_label(s) for s in scopes],
                        horizontal_spacing=0.05, shared_yaxes=True)
    for i, scope in enumerate(scopes, start=1):
        m = rows[scope]
        cells = [[m["tn"], m["fp"]], [m["fn"], m["tp"]]]
        total = sum(sum(r) for r in cells) or 1
        text = [[f"{v}<br>{name} {v / total:.0%}" for v, name in zip(r, names)]
                for r, names in zip(cells, (("TN", "FP"), ("FN", "TP")))]
        fig.add_heatmap(z=cells, x=["pred NORMAL", "pred PNEUMONIA"], y=["NORMAL", "PNEUMONIA"], text=text,
                        texttemplate="%{text}", textfont=dict(size=13), showscale=False, xgap=3, ygap=3,
                        colorscale=[[0, "rgba(128,128,128,0.08)"], [1, hospital_color(scope)]],
                        hovertemplate="actual %{y}, %{x}: %{z}<extra></extra>", row=1, col=i)
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(title="actual", row=1, col=1)
    return _layout(fig, height, top=36)


def errors_by_hospital(rows: dict[str, dict]) -> go.Figure:
    """False negatives (missed pneumonia, solid) and false positives (hatched) per hospital."""
    names = list(rows)
    labels = [dot_label(h) for h in names]
    colors = [hospital_color(h) for h in names]
    fig = go.Figure()
    fig.add_bar(x=labels, y=[rows[h]["fn"] for h in names], name="false negatives (missed pneumonia)",
                marker=dict(color=colors), text=[rows[h]["fn"] for h in names], textposition="outside")
    fig.add_bar(x=labels, y=[rows[h]["fp"] for h in names], name="false positives (false alarm)",
                marker=dict(color=colors, pattern=dict(shape="/", fillmode="overlay", fgcolor="white"), opacity=0.6),
                text=[rows[h]["fp"] for h in names], textposition="outside")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="images", rangemode="tozero")
    return _layout(fig, 300)


def probability_gauge(probability: float, threshold: float) -> go.Figure:
    """P(pneumonia) on a 0..1 gauge with the decision threshold marked."""
    color = CLASS_COLORS["PNEUMONIA"] if probability >= threshold else CLASS_COLORS["NORMAL"]
    fig = go.Figure(go.Indicator(
        mode="gauge+number", value=probability, number=dict(valueformat=".3f"),
        gauge=dict(axis=dict(range=[0, 1], tickvals=[0, threshold, 1]), bar=dict(color=color, thickness=0.6),
                   threshold=dict(line=dict(color=GLOBAL_COLOR, width=4), thickness=0.9, value=threshold))))
    return _layout(fig, 220, "P(pneumonia)")


def compare_runs(frames: dict[str, pd.DataFrame], metric: str) -> go.Figure:
    """The global model's metric over rounds for several runs, one colour a run.

    Parameters
    ----------
    frames : dict of label to frame
        Each run's global rows (round and the metric's column).
    """
    fig = go.Figure()
    for i, (label, rows) in enumerate(frames.items()):
        fig.add_scatter(x=rows["round"], y=rows[metric], name=label, mode="lines+markers",
                        line=dict(color=RUN_COLORS[i % len(RUN_COLORS)], width=2.5))
    fig.update_xaxes(title="round", rangemode="tozero")
    if metric in RATE_METRICS:
        fig.update_yaxes(range=[0, 1.02])
    fig = _layout(fig, 420, f"Global {METRIC_LABELS.get(metric, metric)} by round", showlegend=True)
    fig.update_layout(legend=dict(y=-0.18, yanchor="top"))  # below the plot: run labels are long
    return fig


def _nan_none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
