"""Who helped and who was flagged, drawn: the Fairness page's contribution bars and the notes the
Train page's legend adds to flagged hospitals. The figures come from fedcore.server.who_helped."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard.theme import hospital_color, scope_label
from fedcore.server.who_helped import contributions_by_hospital


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
