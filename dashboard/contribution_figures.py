"""Who helped, drawn: the Fairness page's contribution bars over the run and the Train page's
contribution of each hospital round by round. The figures come from fedcore.server.who_helped."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard.theme import hospital_color, scope_label
from fedcore.server.who_helped import contributions_by_hospital, contributions_by_round


def contribution_bars(rounds: list[dict]) -> go.Figure | None:
    """Each hospital's leave-one-out contribution summed over the run, one bar each, in its
    colour; None for a run that scored no contributions (``--no-contribution``, not federated,
    more than 10 hospitals)."""
    totals = contributions_by_hospital(rounds)
    if not totals:
        return None
    names = sorted(totals, key=lambda n: (len(n), n))
    fig = go.Figure(
        go.Bar(
            x=[scope_label(n) for n in names],
            y=[totals[n] for n in names],
            marker_color=[hospital_color(n) for n in names],
            hovertemplate="%{x}: %{y:+.3f} validation AUROC, summed over rounds<extra></extra>",
        )
    )
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis_title="AUROC it added",
        yaxis_zeroline=True,
    )
    return fig


def contribution_by_round(rounds: list[dict]) -> go.Figure | None:
    """Each hospital's leave-one-out contribution round by round, a line each in its colour (the
    Train page, live); None for a run that scored none."""
    lines = contributions_by_round(rounds)
    if not lines:
        return None
    fig = go.Figure()
    for name in sorted(lines, key=lambda n: (len(n), n)):
        fig.add_scatter(
            x=[r for r, _value in lines[name]],
            y=[value for _r, value in lines[name]],
            name=scope_label(name),
            mode="lines+markers",
            line=dict(color=hospital_color(name), width=2),
            hovertemplate=f"{scope_label(name)}<br>round %{{x}}: %{{y:+.3f}} validation AUROC"
            "<extra></extra>",
        )
    fig.add_hline(y=0, line=dict(color="gray", width=1))
    fig.update_xaxes(title="round", dtick=1)
    fig.update_yaxes(title="AUROC it added")
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig
