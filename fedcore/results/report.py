"""Tables 1 and 2 of the original design, from a run store snapshot, with correct binary metrics.

Table 1: the global model on the global test set. Table 2: the global model on each
hospital's own test set (in local mode, each hospital's own model). pandas frames, so
the CLI prints them and the dashboard shows and downloads the same numbers.
"""

from __future__ import annotations

import pandas as pd

from fedcore.errors import FedXrayError
from fedcore.results.fairness import fairness_summary
from fedcore.results.operating_point import AT_POINT, at_chosen_threshold
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

    The ROC points stored with each scope (``roc_*``, see fedcore.results.roc.roc_points) are
    left out, as is any value that is not a number or a name: they belong to a curve, not
    to a per-round table.
    """
    rows = [
        {
            k: v
            for k, v in m.items()
            if not k.startswith(ROC_PREFIX) and isinstance(v, (int, float, str))
        }
        for m in snapshot["metrics"]
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["round", "scope", *TABLE_COLUMNS])
    return frame


def pick_round(snapshot: dict, which: str | int = "last") -> int:
    """'last', 'best' (by global AUROC) or a round number, checked against the snapshot."""
    done = snapshot["run"]["rounds_done"]
    if not done:
        raise FedXrayError(f"run {snapshot['run']['id']} has no completed round yet")
    if which == "last":
        return done
    if which == "best":
        return snapshot["run"]["best_round"] or done
    server_round = int(which)
    if not 1 <= server_round <= done:
        raise FedXrayError(
            f"round {server_round} is not available: run {snapshot['run']['id']} "
            f"completed rounds 1..{done}"
        )
    return server_round


def table1(snapshot: dict, which: str | int = "last") -> pd.DataFrame:
    """Global model(s) on the global test set, one row per model, metrics as columns."""
    server_round = pick_round(snapshot, which)
    frame = metrics_frame(snapshot)
    rows = frame[(frame["round"] == server_round) & frame["scope"].str.startswith("global")]
    table = rows.set_index("scope")[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    table.index = pd.Index([_model_label(s) for s in table.index], name="model")
    return table


def table2(snapshot: dict, which: str | int = "last") -> pd.DataFrame:
    """The model on each hospital's own test set, one row per hospital."""
    server_round = pick_round(snapshot, which)
    frame = metrics_frame(snapshot)
    rows = frame[(frame["round"] == server_round) & ~frame["scope"].str.startswith("global")]
    table = rows.set_index("scope")[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    table.index.name = "hospital"
    return table


OPERATING_COLUMNS = {
    "op_threshold": "Threshold",
    "op_accuracy": "Accuracy",
    "op_sensitivity": "Sensitivity (recall)",
    "op_specificity": "Specificity",
    "op_precision": "Precision",
    "op_f1": "F1",
    "op_tp": "TP",
    "op_fp": "FP",
    "op_tn": "TN",
    "op_fn": "FN",
}


def operating_point_table(snapshot: dict, which: str | int = "last") -> pd.DataFrame:
    """Every model and hospital at the round's federated operating point (empty for runs without
    one).

    The threshold is the one the server chose from the hospitals' pooled validation
    counts (fedcore.results.operating_point); Tables 1 and 2 keep the fixed threshold beside it.
    """
    server_round = pick_round(snapshot, which)
    frame = metrics_frame(snapshot)
    if "op_threshold" not in frame:
        return pd.DataFrame(columns=list(OPERATING_COLUMNS.values()))
    rows = frame[(frame["round"] == server_round) & frame["op_threshold"].notna()]
    table = rows.set_index("scope")[list(OPERATING_COLUMNS)].rename(columns=OPERATING_COLUMNS)
    table.index = pd.Index(
        [_model_label(s) if s.startswith("global") else s for s in table.index], name="model"
    )
    return table


def at_operating_points(frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """:func:`metrics_frame` rows as they read at each round's federated operating point.

    Returns
    -------
    (pd.DataFrame, bool)
        The rows with accuracy, sensitivity, specificity, precision, F1 and the four counts
        replaced by their ``op_`` figures, and True; or ``frame`` unchanged and False when
        any row lacks them (a run recorded before hospitals reported test counts, local
        mode), so that one figure never mixes the two thresholds.
    """
    columns = [f"op_{k}" for k in AT_POINT]
    if (
        frame.empty
        or not all(c in frame for c in columns)
        or frame[columns].isna().all(axis=1).any()
    ):
        return frame, False
    shown = frame.copy()
    for k in AT_POINT:
        shown[k] = frame[f"op_{k}"]
    return shown, True


def rounds_table(frame: pd.DataFrame, seconds: dict[int, float], threshold: float) -> pd.DataFrame:
    """The global model round by round, newest first: AUROC and loss, then the rates at the round's
    federated operating point and, beside them, at the fixed ``threshold``.

    Parameters
    ----------
    frame : pd.DataFrame
        :func:`metrics_frame` rows.
    seconds : dict
        Each round's wall time, by round number.
    threshold : float
        The run's fixed threshold (``RunConfig.threshold``), named in its columns.

    Returns
    -------
    pd.DataFrame
        ``round, model, seconds, AUROC, loss``, ``threshold, accuracy, sensitivity, specificity``
        at the
        operating point (none for a run without one), accuracy, sensitivity, specificity and F1 ``at
        <threshold>``; a row per round and global scope (local mode: a global line per hospital).
    """
    rows = frame[frame["scope"].str.startswith("global")].sort_values(
        ["round", "scope"], ascending=[False, True]
    )
    table = pd.DataFrame(
        {
            "round": rows["round"].astype(int),
            "model": [_model_label(s) for s in rows["scope"]],
            "seconds": rows["round"].map(seconds),
            "AUROC": rows["auroc"],
            "loss": rows["loss"],
        }
    )
    if "op_threshold" in rows and rows["op_threshold"].notna().any():
        table["threshold"] = rows["op_threshold"]
        for k in ("accuracy", "sensitivity", "specificity"):
            table[k] = rows[f"op_{k}"]
    for k in ("accuracy", "sensitivity", "specificity", "f1"):
        table[f"{'F1' if k == 'f1' else k} at {threshold:g}"] = rows[k]
    return table.reset_index(drop=True)


def fairness_row(snapshot: dict, which: str | int = "last") -> dict:
    """The fairness summary of one round."""
    server_round = pick_round(snapshot, which)
    for r in snapshot["rounds"]:
        if r["round"] == server_round:
            return r["fairness"]
    raise FedXrayError(f"round {server_round} has no fairness summary")


def operating_threshold(snapshot: dict, which: str | int = "last") -> float | None:
    """The threshold the server chose in one round when the global model and every hospital have
    their
    figures there; None otherwise (a run recorded before hospitals reported test counts, local
    mode)."""
    server_round = pick_round(snapshot, which)
    rows = {m["scope"]: m for m in snapshot["metrics"] if m["round"] == server_round}
    hospitals = [m for s, m in rows.items() if not s.startswith("global")]
    if (
        "op_threshold" not in rows.get("global", {})
        or not hospitals
        or any(f"op_{k}" not in m for m in hospitals for k in AT_POINT)
    ):
        return None
    return rows["global"]["op_threshold"]


def fairness_at_operating_point(snapshot: dict, which: str | int = "last") -> dict | None:
    """The fairness summary of one round with every hospital read at the threshold the server
    chose; None without one (:func:`operating_threshold`)."""
    server_round = pick_round(snapshot, which)
    if operating_threshold(snapshot, server_round) is None:
        return None
    return fairness_summary(
        {
            m["scope"]: at_chosen_threshold(m)
            for m in snapshot["metrics"]
            if m["round"] == server_round and not m["scope"].startswith("global")
        }
    )


def _model_label(scope: str) -> str:
    return "global model" if scope == "global" else f"{scope.split(':', 1)[1]} local model"
