"""Tables 1 and 2 of the original design, from a run store snapshot, read at the run's decision
threshold (:mod:`fedcore.results.decision`) or at its fixed one.

Table 1: the global model on the global test set. Table 2: the global model on each hospital's
own test set (local mode: each hospital's own model). pandas frames, so the CLI prints them and
the dashboard shows and downloads the same numbers.
"""

from __future__ import annotations

import pandas as pd

from fedcore.errors import FedXrayError
from fedcore.results.calibration import BIN_PREFIX, CALIBRATED_PREFIX
from fedcore.results.decision import (
    Decision,
    at_decision,
    decision,
    pick_round,
    round_rows,
)
from fedcore.results.fairness import fairness_summary
from fedcore.results.roc import ROC_PREFIX

# The original design's published figures (its own 624 / 208-image test sets).
PUBLISHED_GLOBAL = {"loss": 0.402, "accuracy": 0.824}
PUBLISHED_HOSPITAL_ACCURACY = {"hospital_1": 0.8125, "hospital_2": 0.8365, "hospital_3": 0.8221}

TABLE_COLUMNS = {
    "loss": "Loss",
    "accuracy": "Accuracy",
    "auroc": "AUROC",
    "sensitivity": "Sensitivity (recall)",
    "specificity": "Specificity",
    "precision": "Precision",
    "f1": "F1",
    "f1_avg": "F1 avg",
    "tp": "TP",
    "fp": "FP",
    "tn": "TN",
    "fn": "FN",
    "n": "n",
}


def metrics_frame(snapshot: dict) -> pd.DataFrame:
    """Every (round, scope) row of a snapshot as a frame with one column per scalar metric.

    The ROC points and reliability bins stored with each scope are left out, as is any value
    that is not a number or a name: they belong to a curve, not to a per-round table.
    """
    curves = (ROC_PREFIX, BIN_PREFIX, CALIBRATED_PREFIX)
    rows = [
        {
            k: v
            for k, v in m.items()
            if not k.startswith(curves) and isinstance(v, (int, float, str))
        }
        for m in snapshot["metrics"]
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["round", "scope", *TABLE_COLUMNS])
    return frame


def threshold_for(snapshot: dict, server_round: int, at: str = "decision") -> Decision:
    """The round's decision (``at='decision'``) or the run's fixed threshold (``at='fixed'``)."""
    chosen = decision(snapshot, server_round)
    return chosen.at_fixed if at == "fixed" else chosen


def _table(snapshot: dict, which, at: str, on_global_test: bool) -> pd.DataFrame:
    server_round = pick_round(snapshot, which)
    chosen = threshold_for(snapshot, server_round, at)
    rows = {
        s: at_decision(m, chosen)
        for s, m in sorted(round_rows(snapshot, server_round).items())
        if s.on_global_test == on_global_test
    }
    table = pd.DataFrame(
        [
            {"Threshold": chosen.threshold} | {TABLE_COLUMNS[k]: m.get(k) for k in TABLE_COLUMNS}
            for m in rows.values()
        ],
        index=pd.Index(
            [s.label if on_global_test else s.test_set for s in rows],
            name="model" if on_global_test else "hospital",
        ),
    )
    table.attrs["decision"] = chosen
    return table


def table1(snapshot: dict, which: str | int = "last", at: str = "decision") -> pd.DataFrame:
    """Global model(s) on the global test set, one row per model; ``attrs['decision']`` says the
    threshold (also the Threshold column)."""
    return _table(snapshot, which, at, True)


def table2(snapshot: dict, which: str | int = "last", at: str = "decision") -> pd.DataFrame:
    """The model on each hospital's own test set, one row per hospital."""
    return _table(snapshot, which, at, False)


def rounds_table(snapshot: dict, seconds: dict[int, float]) -> pd.DataFrame:
    """The global model round by round, newest first: AUROC and loss, the figures at the round's
    decision threshold, and beside them at the fixed threshold (labelled 'at 0.5')."""
    fixed = float(snapshot["run"]["config"].get("threshold", 0.5))
    records = []
    for server_round in sorted({m["round"] for m in snapshot["metrics"]}, reverse=True):
        chosen = decision(snapshot, server_round)
        for scope, m in sorted(round_rows(snapshot, server_round).items()):
            if not scope.on_global_test:
                continue
            read = at_decision(m, chosen)
            records.append(
                {
                    "round": server_round,
                    "model": scope.label,
                    "seconds": seconds.get(server_round),
                    "AUROC": m.get("auroc"),
                    "loss": m.get("loss"),
                    "threshold": chosen.threshold,
                    "accuracy": read.get("accuracy"),
                    "sensitivity": read.get("sensitivity"),
                    "specificity": read.get("specificity"),
                    f"accuracy at {fixed:g}": m.get("accuracy"),
                    f"sensitivity at {fixed:g}": m.get("sensitivity"),
                    f"specificity at {fixed:g}": m.get("specificity"),
                }
            )
    return pd.DataFrame(records)


def fairness_row(snapshot: dict, which: str | int = "last") -> dict:
    """The fairness summary of one round at the fixed threshold, as the recorder stored it."""
    server_round = pick_round(snapshot, which)
    for r in snapshot["rounds"]:
        if r["round"] == server_round:
            return r["fairness"]
    raise FedXrayError(f"round {server_round} has no fairness summary")


def fairness_at(snapshot: dict, which: str | int = "last", at: str = "decision") -> dict:
    """The fairness summary of one round with every hospital read at the round's decision (or,
    with ``at='fixed'``, the stored summary at the fixed threshold)."""
    server_round = pick_round(snapshot, which)
    chosen = threshold_for(snapshot, server_round, at)
    if not chosen.operating_point:
        return fairness_row(snapshot, server_round)
    return fairness_summary(
        {
            s.text: at_decision(m, chosen)
            for s, m in round_rows(snapshot, server_round).items()
            if not s.on_global_test
        }
    )


# What the server saw of each hospital's update in a round (fedcore.server.round_review), beside
# that hospital's rows in the export; empty for the global test set and for older runs.
UPDATE_COLUMNS = (
    "update_norm",
    "cos_aggregate",
    "cos_median",
    "flagged",
    "flag_reason",
    "dropped",
    "contribution",
)


def every_figure(snapshot: dict) -> pd.DataFrame:
    """Every round x scope of a run with the decided figures at the round's decision threshold
    and, beside them, at the fixed threshold: what the Runs page and ``report --csv`` export."""
    frame = metrics_frame(snapshot)
    if frame.empty:
        return frame
    fixed = float(snapshot["run"]["config"].get("threshold", 0.5))
    fit = {r["round"]: r.get("fit") or {} for r in snapshot.get("rounds", [])}
    out = []
    for server_round in sorted(frame["round"].unique()):
        chosen = decision(snapshot, int(server_round))
        for scope, m in sorted(round_rows(snapshot, int(server_round)).items()):
            read = at_decision(m, chosen)
            row = {
                "run": snapshot["run"]["id"],
                "round": int(server_round),
                "model": scope.model,
                "test_set": scope.test_set,
                "threshold": chosen.threshold,
                "threshold_rule": "operating point" if chosen.operating_point else "fixed",
            }
            row |= {k: read.get(k) for k in TABLE_COLUMNS}
            row |= {
                f"{k} at {fixed:g}": m.get(k)
                for k in ("accuracy", "sensitivity", "specificity", "tp", "fp", "tn", "fn")
            }
            facts = fit.get(int(server_round), {}).get(scope.hospital or "", {})
            row |= {k: facts.get(k) for k in UPDATE_COLUMNS}
            out.append(row)
    return pd.DataFrame(out)
