"""A run as one self-contained HTML file: settings and command, the hospitals' data, the round
curves, Tables 1 and 2 at the run's threshold, the fairness verdict, ROC and reliability, privacy,
health and the commit.

Plotly's JavaScript is embedded once in the page (no CDN, no font or map server), so the file
opens offline and asks no server for anything.
"""

from __future__ import annotations

import datetime
import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from fedcore.config.flags import train_flags
from fedcore.config.run_config import RunConfig
from fedcore.results import health
from fedcore.results.calibration_report import calibration_lines, round_calibration
from fedcore.results.decision import curves_at_decision, pick_round, round_rows
from fedcore.results.fairness_verdict import fairness_checks, overall
from fedcore.results.report import fairness_at, metrics_frame, table1, table2, threshold_for
from fedcore.results.report_figures import reliability_diagram, roc_figure, round_curves

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } code { background: #f5f5f5; padding: 2px 4px; }
.pass { color: #1a7f37; } .fail { color: #b42318; }
"""


def render(
    snapshot: dict,
    which: str | int = "last",
    commit: str = "unknown",
    privacy: dict[str, pd.DataFrame] | None = None,
) -> str:
    """The report of one run as an HTML page.

    Parameters
    ----------
    snapshot : dict
        The run store's snapshot of the run.
    which : str or int
        The round Tables 1 and 2, the verdict, ROC and reliability are read at: 'last', 'best'
        or a number.
    commit : str
        The FedXray commit that writes the report (the store does not keep the one that trained).
    privacy : dict of title to DataFrame, optional
        The privacy tables (fedcore.privacy.tables), given by the caller: this layer does not
        read the privacy package.
    """
    run = snapshot["run"]
    server_round = pick_round(snapshot, which)
    chosen = threshold_for(snapshot, server_round)
    parts = [
        f"<h1>FedXray run {_e(run['id'])}</h1>",
        f"<p>{_e(run['mode'])}, {_e(run['status'])}, {run['rounds_done']}/{run['rounds_total']} "
        f"rounds, best round {run['best_round']}. Figures of round {server_round}, "
        f"{_e(chosen.words)}. Written {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC "
        f"by FedXray commit <code>{_e(commit)}</code>.</p>",
        *_settings(run),
        *_data(run.get("data_summary") or {}),
        *_curves(snapshot),
        f"<h2>Table 1. Global model on the global test set, {_e(chosen.words)}</h2>",
        _table(table1(snapshot, server_round)),
        f"<h2>Table 2. Per hospital, on each hospital's own test set, {_e(chosen.words)}</h2>",
        _table(table2(snapshot, server_round)),
        *_fairness(snapshot, server_round),
        *_roc_and_reliability(snapshot, server_round),
        *_privacy(privacy or {}),
        *_health(snapshot),
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>FedXray run {_e(run['id'])}</title><style>{_STYLE}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )


def _e(value) -> str:
    return html.escape(str(value))


def _table(frame: pd.DataFrame, index: bool = True) -> str:
    return frame.to_html(
        index=index, na_rep="n/a", float_format=lambda v: f"{v:.4f}", border=0, escape=True
    )


def _figure(fig: go.Figure) -> str:
    return fig.to_html(
        full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True}
    )


def _settings(run: dict) -> list[str]:
    config = RunConfig.from_dict(run["config"])
    command = " ".join(["python -m fedcore train", *train_flags(config)])
    settings = pd.DataFrame(
        {"setting": list(run["config"]), "value": [str(v) for v in run["config"].values()]}
    )
    return [
        "<h2>Settings and command</h2>",
        f"<p><code>{_e(command)}</code></p>",
        f"<p>Model: {_e(config.backbone)} at {config.input_size} px; initial weights: "
        f"{_e(run.get('notice') or 'not recorded')}</p>",
        _table(settings, index=False),
    ]


def _data(summary: dict) -> list[str]:
    rows = [
        {"hospital": name, "split": split, **counts}
        for name, splits in summary.get("hospitals", {}).items()
        for split, counts in splits.items()
    ]
    if summary.get("global_test"):
        rows.append({"hospital": "server", "split": "global test", **summary["global_test"]})
    if not rows:
        return []
    return [
        f"<h2>The hospitals' data ({_e(summary.get('source', ''))})</h2>",
        _table(pd.DataFrame(rows).fillna(0), index=False),
        *(f"<p>{_e(note)}</p>" for note in summary.get("notes", [])),
    ]


def _curves(snapshot: dict) -> list[str]:
    frame = metrics_frame(snapshot)
    if frame.empty:
        return []
    shown, at_point = curves_at_decision(frame)
    where = "at each round's operating point" if at_point else "at the fixed threshold"
    return [
        "<h2>Round by round</h2>",
        _figure(round_curves(frame, "auroc", "AUROC")),
        _figure(round_curves(shown, "accuracy", f"Accuracy {where}")),
        _figure(round_curves(shown, "sensitivity", f"Sensitivity {where}")),
        _figure(round_curves(frame, "loss", "Loss")),
        _figure(round_curves(frame, "ece", "Expected calibration error (uncalibrated)")),
    ]


def _fairness(snapshot: dict, server_round: int) -> list[str]:
    rows = round_rows(snapshot, server_round)
    if not any(not s.on_global_test for s in rows):
        return []
    fairness = fairness_at(snapshot, server_round)
    checks = fairness_checks(fairness, float(table1(snapshot, server_round)["Accuracy"].mean()))
    outcome = overall(checks)
    word = {True: "fair: every check passes", False: "not fair: a check fails"}.get(
        outcome, "not measurable"
    )
    items = "".join(
        f"<li class='{'pass' if c.passed else 'fail'}'>{_e(c.name)}: "
        f"{'n/a' if math.isnan(c.value) else f'{c.value:.3f}'} (bar {_e(c.rule)}) "
        f"{'pass' if c.passed else 'n/a' if c.passed is None else 'fail'}</li>"
        for c in checks
    )
    return [f"<h2>Fairness verdict: {_e(word)}</h2>", f"<ul>{items}</ul>"]


def _roc_and_reliability(snapshot: dict, server_round: int) -> list[str]:
    parts = [
        "<h2>ROC and reliability</h2>",
        _figure(roc_figure(round_rows(snapshot, server_round))),
    ]
    scopes = round_calibration(snapshot, server_round)
    if scopes:
        parts += [
            *(f"<p>{_e(line)}</p>" for line in calibration_lines(snapshot, server_round)),
            _figure(reliability_diagram(scopes)),
        ]
        if any(c.mapped is not None for c in scopes):
            parts.append(_figure(reliability_diagram(scopes, calibrated=True)))
    return parts


def _privacy(tables: dict[str, pd.DataFrame]) -> list[str]:
    parts = ["<h2>Privacy</h2>"]
    for title, frame in tables.items():
        parts += [
            f"<h3>{_e(title)}</h3>",
            _table(frame, index=False) if len(frame) else "<p>none</p>",
        ]
    return parts if tables else []


def _health(snapshot: dict) -> list[str]:
    verdict = health.assess(snapshot)
    return ["<h2>Health</h2>", f"<p>{_e(verdict.line)}</p>"] if verdict else []
