"""The CLI's text report of a run: Tables 1 and 2, the operating point and fairness, as text."""

from __future__ import annotations

import math

import pandas as pd

from fedcore.config.run_config import RunConfig
from fedcore.results.report import (
    PUBLISHED_GLOBAL,
    PUBLISHED_HOSPITAL_ACCURACY,
    fairness_at_operating_point,
    fairness_row,
    operating_point_table,
    pick_round,
    table1,
    table2,
)


def format_table(table: pd.DataFrame) -> str:
    """Fixed-width text: rates with 4 decimals, counts as integers."""

    def cell(value, column):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        return (
            f"{int(value)}"
            if column in ("TP", "FP", "TN", "FN", "n")
            else f"{value:.4g}"
            if column == "Threshold"
            else f"{value:.4f}"
        )

    shown = pd.DataFrame(
        {c: [cell(v, c) for v in table[c]] for c in table.columns}, index=table.index
    )
    shown.index.name = None
    return shown.to_string()


def text_report(snapshot: dict, which: str | int = "last") -> str:
    """Both tables, the fairness summary and the published reference, as the CLI prints them."""
    run = snapshot["run"]
    server_round = pick_round(snapshot, which)
    fair = fairness_row(snapshot, server_round)
    lines = [
        f"Run {run['id']} ({run['mode']}, {run['status']}, "
        f"{run['rounds_done']}/{run['rounds_total']} rounds; "
        f"best round {run['best_round']})",
        _model_line(run),
        "",
        f"Table 1. Global model on the global test set (PNEUMONIA positive), round {server_round}",
        format_table(table1(snapshot, server_round)),
        f"  original design, published: loss {PUBLISHED_GLOBAL['loss']}, accuracy "
        f"{PUBLISHED_GLOBAL['accuracy']} "
        "(its precision and recall averaged both classes)",
        "",
        f"Table 2. Per hospital, on each hospital's own test set, round {server_round}",
        format_table(table2(snapshot, server_round)),
        "  original design, published accuracy: "
        + ", ".join(f"{h} {a}" for h, a in PUBLISHED_HOSPITAL_ACCURACY.items()),
        "",
        f"Fairness at the fixed threshold {run['config'].get('threshold', RunConfig.threshold):g}: "
        + ", ".join(f"{k} {_fmt(v)}" for k, v in fair.items()),
    ]
    at_point = fairness_at_operating_point(snapshot, server_round)
    if at_point is not None:
        lines.append(
            "Fairness at the federated operating point: "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in at_point.items())
        )
    chosen = operating_point_table(snapshot, server_round)
    if not chosen.empty:
        lines[-2:-2] = [
            "",
            f"At the federated operating point (threshold chosen by the server from the hospitals' "
            f"validation counts), round {server_round}",
            format_table(chosen),
        ]
    lines.extend(f"Attack: {e['message']}" for e in snapshot["events"] if e["kind"] == "attack")
    skipped = [e for e in snapshot["events"] if e["kind"] == "skipped_files"]
    for event in skipped:
        files = event["data"]["files"]
        lines.append(f"Skipped {len(files)} unreadable file(s):")
        lines.extend(f"  {path}: {reason}" for path, reason in files)
    if run["error"]:
        lines.append(f"Error: {run['error']}")
    return "\n".join(lines)


def _model_line(run: dict) -> str:
    """'Model: efficientnetv2s at 100 px; initial weights: random initialisation': what the figures
    come from."""
    config = RunConfig.from_dict(run["config"])
    weights = run.get("notice") or "not recorded"
    return f"Model: {config.backbone} at {config.input_size} px; initial weights: {weights}"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)
