"""Plotly figure builders: pure functions from run-store data to figures.

Every figure leaves its background and fonts to Streamlit's theme (light or dark) and
takes hospital colours from :mod:`dashboard.theme`, so a hospital looks the same on
every page.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from dashboard.theme import (
    ATTACKER_COLOR,
    CLASS_COLORS,
    GLOBAL_COLOR,
    METRIC_LABELS,
    RATE_METRICS,
    RUN_COLORS,
    hospital_color,
    scope_label,
)
from fedcore.results.scope import Scope, is_global_test

# Every chart offers one button: download it as a PNG (at twice the screen's resolution).
PLOT_CONFIG = {
    "displaylogo": False,
    "modeBarButtons": [["toImage"]],
    "toImageButtonOptions": {"format": "png", "filename": "fedxray", "scale": 2},
}
HEATMAP_METRICS = ("accuracy", "auroc", "sensitivity", "specificity", "precision", "f1", "f1_avg")


def dot_label(scope: str) -> str:
    """A scope's label with a dot in its colour, for axis ticks and legends."""
    return f"<span style='color:{hospital_color(scope)}'>●</span> {scope_label(scope)}"


def _layout(
    fig: go.Figure, height: int, title: str | None = None, top: int | None = None, **extra
) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=8, r=8, t=top if top is not None else 40 if title else 10, b=8),
        title=dict(text=title, font=dict(size=15)) if title else None,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        **extra,
    )
    return fig


def class_balance(summary: dict, split: str = "train") -> go.Figure:
    """NORMAL and PNEUMONIA images per hospital in one split, side by side, each count beside its
    bar.

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
        fig.add_bar(
            y=[dot_label(h) for h in names],
            x=counts,
            name=cls,
            orientation="h",
            marker_color=CLASS_COLORS[cls],
            text=[f"{c:,}" for c in counts],
            textposition="outside",
            cliponaxis=False,
        )
    most = max((summary["hospitals"][h][split][c] for h in names for c in CLASS_COLORS), default=1)
    fig.update_layout(
        barmode="group",
        yaxis=dict(autorange="reversed"),
        xaxis_title=f"{split} images",
        legend_traceorder="normal",
    )
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
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=shares,
            marker_color=[hospital_color(h) for h in names],
            text=[f"{s:.0%}" for s in shares],
            textposition="outside",
            cliponaxis=False,
            showlegend=False,
            hovertemplate="%{x}: %{y:.1%} pneumonia<extra></extra>",
        )
    )
    g = summary.get("global_test")
    if g and g["NORMAL"] + g["PNEUMONIA"]:
        share = g["PNEUMONIA"] / (g["NORMAL"] + g["PNEUMONIA"])
        line = dict(color=GLOBAL_COLOR, dash="dash", width=2)
        fig.add_hline(y=share, line=line)
        # The line across the whole plot has no legend entry of its own: an empty trace names it.
        fig.add_scatter(
            x=[None], y=[None], mode="lines", line=line, name=f"global test set: {share:.0%}"
        )
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title="pneumonia share")
    fig = _layout(fig, 110 + 62 * max(len(names), 3), top=40, showlegend=True)
    fig.update_layout(legend=dict(y=1.0, yanchor="bottom"))
    return fig


def _ordered(scopes) -> list[str]:
    return sorted(set(scopes), key=lambda s: (s != "global", not is_global_test(s), s))


def scope_legend(scopes, attackers=(), flags: dict[str, str] | None = None) -> str:
    """One HTML line naming each scope in its colour: the shared legend of the metric panels.

    Parameters
    ----------
    scopes : iterable of str
    attackers : iterable of str
        Hospitals that sent poisoned updates (a simulated attack): marked in red.
    flags : dict of str to str, optional
        Hospitals whose updates the server flagged, with a note ('(flagged round 4: 9.8x
        norm)', fedcore.server.who_helped.flag_notes).
    """
    attackers, flags = set(attackers), flags or {}
    return " &nbsp; ".join(
        dot_label(s)
        + (
            f" <b style='color:{ATTACKER_COLOR}'>(attacker)</b>"
            if Scope.parse(s).hospital in attackers
            else ""
        )
        + (f" <i>{flags[s]}</i>" if s in flags else "")
        for s in _ordered(scopes)
    )


def errors_by_hospital(rows: dict[str, dict]) -> go.Figure:
    """False negatives (missed pneumonia, solid) and false positives (hatched) per hospital."""
    names = list(rows)
    labels = [dot_label(h) for h in names]
    colors = [hospital_color(h) for h in names]
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=[rows[h]["fn"] for h in names],
        name="false negatives (missed pneumonia)",
        marker=dict(color=colors),
        text=[rows[h]["fn"] for h in names],
        textposition="outside",
    )
    fig.add_bar(
        x=labels,
        y=[rows[h]["fp"] for h in names],
        name="false positives (false alarm)",
        marker=dict(
            color=colors, pattern=dict(shape="/", fillmode="overlay", fgcolor="white"), opacity=0.6
        ),
        text=[rows[h]["fp"] for h in names],
        textposition="outside",
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="images", rangemode="tozero")
    return _layout(fig, 300)


def probability_gauge(probability: float, threshold: float) -> go.Figure:
    """P(pneumonia) on a 0..1 gauge with the decision threshold marked."""
    color = CLASS_COLORS["PNEUMONIA"] if probability >= threshold else CLASS_COLORS["NORMAL"]
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=probability,
            number=dict(valueformat=".3f"),
            gauge=dict(
                axis=dict(
                    range=[0, 1],
                    tickvals=[0, threshold, 1],
                    ticktext=["0", f"{threshold:.2f}", "1"],
                ),
                bar=dict(color=color, thickness=0.6),
                threshold=dict(
                    line=dict(color=GLOBAL_COLOR, width=4), thickness=0.9, value=threshold
                ),
            ),
        )
    )
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
        fig.add_scatter(
            x=rows["round"],
            y=rows[metric],
            name=label,
            mode="lines+markers",
            line=dict(color=RUN_COLORS[i % len(RUN_COLORS)], width=2.5),
        )
    fig.update_xaxes(title="round", rangemode="tozero")
    if metric in RATE_METRICS:
        fig.update_yaxes(range=[0, 1.02])
    fig = _layout(fig, 420, f"Global {METRIC_LABELS.get(metric, metric)} by round", showlegend=True)
    fig.update_layout(legend=dict(y=-0.18, yanchor="top"))  # below the plot: run labels are long
    return fig


def _nan_none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


# Worse than the global model: orange-red; the same: near white; better: blue. A diverging
# scale without green, so red/green colour blindness does not hide the sign.
DIFFERENCE_SCALE = [
    [0.0, "#B2182B"],
    [0.25, "#EF8A62"],
    [0.5, "#F7F7F7"],
    [0.75, "#67A9CF"],
    [1.0, "#2166AC"],
]
# Smallest half-range of the difference scale: below it, noise-sized gaps would look vivid.
MIN_DIFFERENCE_RANGE = 0.02


def fairness_difference_heatmap(rows: dict[str, dict], reference: str = "global") -> go.Figure:
    """Hospitals x metrics, each tile coloured by its difference from the reference row.

    The values sit close together (0.81-0.96 for a good model), so a 0-1 scale paints
    them one colour; centring on the global model's figure and fitting the range to the
    largest gap makes the differences between hospitals the thing the colours show.

    Parameters
    ----------
    rows : dict of scope to metrics
        Each hospital's metrics on its own test set, and the ``reference`` scope's.
    reference : str
        The scope every tile is compared with; without it, the hospitals' mean.
    """
    from dashboard.contrast import interpolate, text_color

    scopes = list(rows)
    values = [[_nan_none(rows[s].get(m)) for m in HEATMAP_METRICS] for s in scopes]
    centre = []
    for j in range(len(HEATMAP_METRICS)):
        if reference in rows and values[scopes.index(reference)][j] is not None:
            centre.append(values[scopes.index(reference)][j])
        else:
            present = [row[j] for row in values if row[j] is not None]
            centre.append(sum(present) / len(present) if present else None)
    diff = [
        [None if v is None or c is None else v - c for v, c in zip(row, centre)] for row in values
    ]
    spread = max([abs(d) for row in diff for d in row if d is not None] + [MIN_DIFFERENCE_RANGE])
    labels = [METRIC_LABELS[m] for m in HEATMAP_METRICS]
    ticks = [dot_label(s) for s in scopes]
    fig = go.Figure(
        go.Heatmap(
            z=diff,
            x=labels,
            y=ticks,
            zmin=-spread,
            zmax=spread,
            colorscale=DIFFERENCE_SCALE,
            xgap=3,
            ygap=3,
            customdata=[[("n/a" if v is None else f"{v:.4f}") for v in row] for row in values],
            hovertemplate="%{y}<br>%{x}: %{customdata} (%{z:+.3f} vs "
            + scope_label(reference)
            + ")<extra></extra>",
            colorbar=dict(
                thickness=12, len=0.9, title=dict(text="vs global", side="right"), tickformat="+.2f"
            ),
        )
    )
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            d = diff[i][j]
            tile = (
                "#F7F7F7"
                if d is None
                else interpolate(DIFFERENCE_SCALE, (d + spread) / (2 * spread))
            )
            fig.add_annotation(
                x=labels[j],
                y=ticks[i],
                showarrow=False,
                font=dict(size=13, color=text_color(tile)),
                text="n/a" if value is None else f"{value:.3f}",
            )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top")
    return _layout(fig, 70 + 52 * len(scopes))


def confusion_matrices_html(rows: dict[str, dict]) -> str:
    """One 2x2 confusion matrix per scope (rows actual, columns predicted) as HTML tables in a
    responsive grid.

    HTML rather than Plotly: the Fairness page drew four Plotly figures for sixteen numbers,
    the larger part of its time to first paint. Tiles are opaque (a light tint of the scope's
    colour up to the colour itself) and each number is black or white by the tile's
    luminance, so every count stays readable on the light and the dark theme (WCAG AA).
    Two matrices a row on a wide screen, one on a phone.

    Parameters
    ----------
    rows : dict of scope to metrics
        Each scope's ``tp``, ``fp``, ``tn`` and ``fn``.
    """
    from dashboard.contrast import interpolate, text_color

    cards = []
    for scope, m in rows.items():
        cells = [[("TN", m["tn"]), ("FP", m["fp"])], [("FN", m["fn"]), ("TP", m["tp"])]]
        top = max(count for row in cells for _, count in row) or 1
        total = sum(count for row in cells for _, count in row) or 1
        scale = [[0.0, "#F2F2F2"], [1.0, hospital_color(scope)]]
        body = ""
        for actual, row in zip(("NORMAL", "PNEUMONIA"), cells):
            tiles = ""
            for name, count in row:
                tile = interpolate(scale, count / top)
                tiles += (
                    "<td class='fx-tile' "
                    f"style='background:{tile};color:{text_color(tile)};text-align:center;"
                    f"padding:14px 4px;border:none'><b style='font-size:1.05rem'>{count}</b><br>"
                    f"{name} {count / total:.0%}</td>"
                )
            row_head = "text-align:right;font-weight:400;border:none;padding-right:8px"
            body += f"<tr><th style='{row_head}'>actual {actual}</th>{tiles}</tr>"
        head = "".join(
            f"<th style='font-weight:400;text-align:center;border:none'>predicted {c}</th>"
            for c in ("NORMAL", "PNEUMONIA")
        )
        cards.append(
            f"<div><div style='text-align:center;margin-bottom:4px'>{dot_label(scope)}</div>"
            "<table style='width:100%;table-layout:fixed;border-collapse:separate;"
            "border-spacing:3px;"
            "font-size:0.85rem;margin:0'><tr><th "
            f"style='border:none'></th>{head}</tr>{body}</table></div>"
        )
    return (
        "<div style='display:grid;"
        "grid-template-columns:repeat(auto-fill,minmax(min(100%,420px),1fr));"
        f"gap:12px 28px;margin-bottom:12px'>{''.join(cards)}</div>"
    )


def roc_curves(rows: dict[str, dict], threshold: float) -> go.Figure:
    """The ROC curve of each scope, with its operating points: a dot at the fixed threshold, a
    diamond at the federated one.

    Parameters
    ----------
    rows : dict of scope to metrics
        Each scope's metrics of one round, with the ROC points of
        :func:`fedcore.results.roc.roc_points`; scopes without them are left out.
    threshold : float
        The run's decision threshold: the operating point is (1 - specificity, sensitivity).
    """
    from fedcore.results.roc import roc_curve_of

    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line=dict(color=GLOBAL_COLOR, dash="dot", width=1),
        name="chance",
        hoverinfo="skip",
    )
    for scope in _ordered(rows):
        m = rows[scope]
        thresholds, fpr, tpr = roc_curve_of(m)
        if not thresholds.size:
            continue
        color, label = hospital_color(scope), scope_label(scope)
        auroc = m.get("auroc")
        name = (
            f"{label} (AUROC {auroc:.3f})" if auroc is not None and not math.isnan(auroc) else label
        )
        fig.add_scatter(
            x=fpr,
            y=tpr,
            mode="lines",
            name=name,
            legendgroup=scope,
            line=dict(color=color, width=3.5 if scope == "global" else 2.2, shape="linear"),
            customdata=thresholds,
            hovertemplate=f"{label}<br>threshold %{{customdata:g}}<br>"
            "FPR %{x:.3f}, TPR %{y:.3f}<extra></extra>",
        )
        spec, sens = m.get("specificity"), m.get("sensitivity")
        if spec is not None and sens is not None and not (math.isnan(spec) or math.isnan(sens)):
            fig.add_scatter(
                x=[1 - spec],
                y=[sens],
                mode="markers",
                legendgroup=scope,
                showlegend=False,
                marker=dict(
                    color=color, size=12, symbol="circle", line=dict(color="white", width=2)
                ),
                hovertemplate=f"{label} at threshold {threshold:g}<br>sensitivity {sens:.3f}, "
                f"specificity {spec:.3f}<extra></extra>",
            )
        op_spec, op_sens, op = (
            m.get("op_specificity"),
            m.get("op_sensitivity"),
            m.get("op_threshold"),
        )
        if not any(v is None or math.isnan(v) for v in (op_spec, op_sens, op)):
            fig.add_scatter(
                x=[1 - op_spec],
                y=[op_sens],
                mode="markers",
                legendgroup=scope,
                showlegend=False,
                marker=dict(
                    color=color, size=13, symbol="diamond", line=dict(color="white", width=2)
                ),
                hovertemplate=f"{label} at the federated operating point, threshold {op:.3f}<br>"
                f"sensitivity {op_sens:.3f}, specificity {op_spec:.3f}<extra></extra>",
            )
    fig.update_xaxes(
        title="false-positive rate (1 - specificity)", range=[-0.01, 1.01], constrain="domain"
    )
    fig.update_yaxes(
        title="true-positive rate (sensitivity)", range=[-0.01, 1.01], scaleanchor="x", scaleratio=1
    )
    fig = _layout(fig, 520, showlegend=True)
    # Below the square plot, so a narrow screen keeps the whole width for the curves.
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.16, yanchor="top"), margin=dict(b=90))
    return fig


def epsilon_by_round(frame: pd.DataFrame, target: float | None = None) -> go.Figure:
    """Cumulative epsilon of each hospital after each round, in the hospitals' colours.

    Parameters
    ----------
    frame : pd.DataFrame
        :func:`fedcore.privacy.tables.epsilon_frame` (round, hospital, epsilon).
    target : float, optional
        The run's target epsilon, drawn as a dotted line.
    """
    fig = go.Figure()
    for hospital, rows in frame.groupby("hospital", sort=True):
        fig.add_scatter(
            x=rows["round"],
            y=rows["epsilon"],
            mode="lines+markers",
            name=scope_label(hospital),
            line=dict(color=hospital_color(hospital), width=2.5),
            hovertemplate=f"{scope_label(hospital)}<br>round %{{x}}: epsilon "
            f"%{{y:.2f}}<extra></extra>",
        )
    if target:
        fig.add_hline(
            y=target,
            line=dict(color=GLOBAL_COLOR, dash="dot"),
            annotation_text=f"target {target:g}",
            annotation_position="top left",
        )
    fig.update_xaxes(title="round", dtick=1)
    fig.update_yaxes(title="epsilon spent so far", rangemode="tozero")
    return _layout(fig, 320, showlegend=True)


def bytes_by_hospital(totals: dict[str, float], rounds: int) -> go.Figure:
    """One bar per hospital: everything it sent over the run, in MB, labelled on the bar's end.

    Parameters
    ----------
    totals : dict of hospital to bytes
    rounds : int
        Rounds the totals cover (for the hover text).
    """
    names = list(totals)
    fig = go.Figure(
        go.Bar(
            y=[dot_label(h) for h in names],
            x=[totals[h] / 1e6 for h in names],
            orientation="h",
            marker=dict(color=[hospital_color(h) for h in names]),
            text=[f"{totals[h] / 1e6:.2f} MB" for h in names],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.2f} MB in " + str(rounds) + " rounds<extra></extra>",
        )
    )
    fig.update_xaxes(title="MB sent to the server (model weights only)", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    fig = _layout(fig, 60 + 48 * len(names))
    fig.update_layout(margin=dict(r=70))  # room for the MB labels outside the bars
    return fig


def audit_bars(audits: dict[str, pd.DataFrame]) -> go.Figure:
    """Attack AUROC per hospital for one or two runs (e.g. with and without DP), chance at 0.5.

    Parameters
    ----------
    audits : dict of label to frame
        Each run's latest audit (hospital, auroc, advantage). The first run's bars are
        solid, the second's hatched, both in the hospitals' colours.
    """
    fig = go.Figure()
    for i, (label, rows) in enumerate(audits.items()):
        pattern = dict(shape="/" if i else "", fgcolor="white", fillmode="overlay")
        fig.add_bar(
            x=[dot_label(h) for h in rows["hospital"]],
            y=rows["auroc"],
            name=label,
            marker=dict(
                color=[hospital_color(h) for h in rows["hospital"]],
                pattern=pattern,
                opacity=0.65 if i else 1.0,
            ),
            text=[f"{v:.3f}" for v in rows["auroc"]],
            textposition="outside",
            customdata=rows["advantage"],
            hovertemplate=f"{label}<br>%{{x}}: attack AUROC %{{y:.3f}}, advantage "
            f"%{{customdata:.3f}}"
            "<extra></extra>",
        )
    fig.add_hline(y=0.5, line=dict(color=GLOBAL_COLOR, dash="dot"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="attack AUROC (dotted: 0.5, a coin toss)", range=[0, 1.05])
    return _layout(fig, 340, showlegend=True)


def twin_curves(curves: dict[str, pd.DataFrame], metric: str = "auroc") -> go.Figure:
    """The global model's metric by round for a DP run and its no-DP twin (solid and dashed).

    Parameters
    ----------
    curves : dict of label to frame
        Each run's global rows (round and the metric's column); the first is drawn solid.
    """
    fig = go.Figure()
    for i, (label, rows) in enumerate(curves.items()):
        fig.add_scatter(
            x=rows["round"],
            y=rows[metric],
            name=label,
            mode="lines+markers",
            line=dict(color=RUN_COLORS[i], width=2.5, dash="dash" if i else "solid"),
        )
    fig.update_xaxes(title="round", dtick=1)
    fig.update_yaxes(title=f"global {METRIC_LABELS.get(metric, metric)}", range=[0.4, 1.0])
    return _layout(fig, 300, showlegend=True)


def privacy_curve(table: pd.DataFrame) -> go.Figure:
    """AUROC and accuracy of each point of a privacy curve against its target epsilon (log axis),
    a cross where the run did not learn; the run without privacy as a dashed line of each colour.

    Parameters
    ----------
    table : DataFrame
        :func:`fedcore.run.privacy_curve.curve_table`: epsilon (inf without privacy), AUROC,
        accuracy and threshold per point.
    """
    fig = go.Figure()
    private = table[table["epsilon"] < math.inf]
    plain = table[table["epsilon"] == math.inf]
    for i, (column, label) in enumerate((("AUROC", "AUROC"), ("accuracy", "accuracy"))):
        color = RUN_COLORS[i]
        words = [f"{label} {v:.3f} at ε {e:g}" for e, v in zip(private["epsilon"], private[column])]
        if column == "accuracy":  # each run at its own decision threshold: say which
            words = [f"{w} ({t})" for w, t in zip(words, private["threshold"])]
        failed = [learned is False for learned in private["learned"]]
        words = [w + (": did not learn" if f else "") for w, f in zip(words, failed)]
        fig.add_scatter(
            x=private["epsilon"],
            y=private[column],
            name=f"{label}, with privacy",
            mode="lines+markers",
            line=dict(color=color, width=2.5),
            marker=dict(symbol=["x" if f else "circle" for f in failed], size=9),
            hovertext=words,
            hoverinfo="text",
        )
        if not plain.empty:
            fig.add_hline(
                y=float(plain[column].iloc[0]),
                line=dict(color=color, dash="dash", width=1.5),
                annotation_text=f"{label} without privacy {plain[column].iloc[0]:.3f}",
                annotation_position="top left",
            )
    values = pd.concat([table["AUROC"], table["accuracy"]]).dropna()
    low = min(0.5, float(values.min()) - 0.05) if not values.empty else 0.4
    fig.update_xaxes(
        title="target epsilon (log scale; smaller is more private)",
        type="log",
        tickvals=list(private["epsilon"]),
        ticktext=[f"{e:g}" for e in private["epsilon"]],
    )
    fig.update_yaxes(title="global model", range=[max(0.0, low), 1.0])
    return _layout(fig, 340, showlegend=True)
