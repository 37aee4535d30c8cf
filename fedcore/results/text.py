"""The CLI's text report of a run: Tables 1 and 2 at the run's decision threshold, the same at
the fixed threshold, fairness and the run's health, as text."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from fedcore.results import health
from fedcore.results.calibration_report import calibration_lines
from fedcore.results.decision import pick_round
from fedcore.results.report import (
    PUBLISHED_GLOBAL,
    PUBLISHED_HOSPITAL_ACCURACY,
    fairness_at,
    table1,
    table2,
    threshold_for,
)


def format_table(table: pd.DataFrame) -> str:
    """Fixed-width text: rates with 4 decimals, counts as integers."""

    def cell(value, column):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        if column in ("TP", "FP", "TN", "FN", "n"):
            return f"{int(value)}"
        return f"{value:.4g}" if column == "Threshold" else f"{value:.4f}"

    shown = pd.DataFrame(
        {c: [cell(v, c) for v in table[c]] for c in table.columns}, index=table.index
    )
    shown.index.name = None
    return shown.to_string()


def text_report(snapshot: dict, which: str | int = "last", who_helped: Iterable[str] = ()) -> str:
    """Both tables, fairness, health and the published reference, as the CLI prints them;
    ``who_helped`` (fedcore.server.who_helped.report_lines) after the attack, before health."""
    run = snapshot["run"]
    server_round = pick_round(snapshot, which)
    chosen = threshold_for(snapshot, server_round)
    lines = [
        f"Run {run['id']} ({run['mode']}, {run['status']}, "
        f"{run['rounds_done']}/{run['rounds_total']} rounds; "
        f"best round {run['best_round']})",
        _model_line(run),
        "",
        f"Table 1. Global model on the global test set (PNEUMONIA positive), round "
        f"{server_round}, {chosen.words}",
        format_table(table1(snapshot, server_round)),
        f"  original design, published: loss {PUBLISHED_GLOBAL['loss']}, accuracy "
        f"{PUBLISHED_GLOBAL['accuracy']} (its precision and recall averaged both classes)",
        "",
        f"Table 2. Per hospital, on each hospital's own test set, round {server_round}, "
        f"{chosen.words}",
        format_table(table2(snapshot, server_round)),
        "  original design, published accuracy: "
        + ", ".join(f"{h} {a}" for h, a in PUBLISHED_HOSPITAL_ACCURACY.items()),
    ]
    if chosen.operating_point:
        lines += [
            "",
            f"The same at the fixed threshold {chosen.fixed:g}, round {server_round}",
            format_table(
                pd.concat(
                    [
                        table1(snapshot, server_round, "fixed"),
                        table2(snapshot, server_round, "fixed"),
                    ]
                )
            ),
        ]
    lines.append("")
    lines.append(
        f"Fairness {chosen.words}: "
        + ", ".join(f"{k} {_fmt(v)}" for k, v in fairness_at(snapshot, server_round).items())
    )
    if chosen.operating_point:
        lines.append(
            f"Fairness at the fixed threshold {chosen.fixed:g}: "
            + ", ".join(
                f"{k} {_fmt(v)}" for k, v in fairness_at(snapshot, server_round, "fixed").items()
            )
        )
    lines += calibration_lines(snapshot, server_round)
    lines.extend(f"Attack: {e['message']}" for e in snapshot["events"] if e["kind"] == "attack")
    lines.extend(who_helped)
    for event in (e for e in snapshot["events"] if e["kind"] == "skipped_files"):
        files = event["data"]["files"]
        lines.append(f"Skipped {len(files)} unreadable file(s):")
        lines.extend(f"  {path}: {reason}" for path, reason in files)
    if run["error"]:
        lines.append(f"Error: {run['error']}")
    verdict = health.assess(snapshot)
    if verdict is not None:
        lines.append(f"Health: {verdict.line}")
    return "\n".join(lines)


def _model_line(run: dict) -> str:
    """'Model: cnn at 28 px; initial weights: random initialisation': what the figures come
    from."""
    from fedcore.config.run_config import RunConfig

    config = RunConfig.from_dict(run["config"])
    weights = run.get("notice") or "not recorded"
    return f"Model: {config.backbone} at {config.input_size} px; initial weights: {weights}"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)
