"""Plotly figures of a run that the HTML report and the dashboard both draw: the reliability
diagram, the round curves and the ROC curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fedcore.results.calibration_report import ScopeCalibration
from fedcore.results.roc import roc_curve_of
from fedcore.results.scope import Scope

_LAYOUT = dict(
    template="plotly_white",
    height=380,
    margin=dict(l=60, r=20, t=50, b=50),
    legend=dict(orientation="h", y=-0.2),
)


def reliability_diagram(scopes: list[ScopeCalibration], calibrated: bool = False) -> go.Figure:
    """Mean predicted P(pneumonia) against the observed pneumonia rate, one line per scope, each
    point a bin (its images in the hover); the diagonal is perfect calibration.

    Parameters
    ----------
    scopes : list of ScopeCalibration
        fedcore.results.calibration_report.round_calibration.
    calibrated : bool
        Draw the bins after the federated map (scopes without them are left out).
    """
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(dash="dot", color="#888")
    )
    for c in scopes:
        bins = c.mapped if calibrated else c.bins
        error = c.ece_calibrated if calibrated else c.ece
        if bins is None:
            continue
        rows = pd.DataFrame(bins.rows())
        fig.add_scatter(
            x=rows["predicted"],
            y=rows["observed"],
            mode="lines+markers",
            name=f"{c.scope.label} (ECE {error:.3f})",
            customdata=rows[["images", "pneumonia"]],
            hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>"
            "%{customdata[1]} of %{customdata[0]} images had pneumonia<extra></extra>",
        )
    which = "after the federated calibration map" if calibrated else "uncalibrated"
    fig.update_layout(
        title=f"Reliability, {which} (15 bins)",
        xaxis=dict(title="mean predicted P(pneumonia)", range=[0, 1]),
        yaxis=dict(title="observed pneumonia rate", range=[0, 1]),
        **_LAYOUT,
    )
    return fig


def round_curves(frame: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """One metric round by round, one line per scope (``metrics_frame`` rows)."""
    fig = go.Figure()
    if metric in frame:
        for scope, rows in frame.groupby("scope", sort=True):
            rows = rows.sort_values("round")
            fig.add_scatter(
                x=rows["round"],
                y=rows[metric],
                mode="lines+markers",
                name=Scope.parse(str(scope)).label,
            )
    fig.update_layout(title=title, xaxis_title="round", yaxis_title=metric, **_LAYOUT)
    return fig


def roc_figure(rows: dict[Scope, dict]) -> go.Figure:
    """Each scope's ROC curve from the points stored with its metrics."""
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dot", color="#888")
    )
    for scope, m in sorted(rows.items()):
        _, fpr, tpr = roc_curve_of(m)
        if not len(fpr):
            continue
        keep = ~(np.isnan(fpr) | np.isnan(tpr))
        fig.add_scatter(
            x=fpr[keep],
            y=tpr[keep],
            mode="lines",
            name=f"{scope.label}, {scope.test_set} test set (AUROC {m.get('auroc', np.nan):.3f})",
        )
    fig.update_layout(
        title="ROC curves",
        xaxis=dict(title="1 - specificity", range=[0, 1]),
        yaxis=dict(title="sensitivity", range=[0, 1]),
        **_LAYOUT,
    )
    return fig
