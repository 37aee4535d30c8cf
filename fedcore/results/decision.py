"""The run's decision threshold, said once: which round is the run's model, at which threshold
every figure that depends on one is read, and those figures.

One rule for every page, the CLI report and the Flower server: the federated operating point
(the threshold the server chose from the hospitals' validation counts) where the round has it
for the global model and every hospital, else the run's fixed threshold. AUROC and loss do not
depend on a threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from fedcore.errors import FedXrayError
from fedcore.results.operating_point import AT_POINT, at_chosen_threshold
from fedcore.results.scope import Scope

# The figures a threshold decides (with the four counts in AT_POINT).
DECIDED = ("accuracy", "sensitivity", "specificity", "precision", "f1")


@dataclass(frozen=True)
class Decision:
    """The threshold a round's figures are read at, and which rule gave it."""

    threshold: float
    operating_point: bool
    fixed: float

    @property
    def words(self) -> str:
        """'at the federated operating point (threshold 0.295)' or 'at the fixed threshold 0.5'."""
        if self.operating_point:
            return f"at the federated operating point (threshold {self.threshold:.3f})"
        return f"at the fixed threshold {self.fixed:g}"

    @property
    def at_fixed(self) -> "Decision":
        """The same round read at the run's fixed threshold instead."""
        return Decision(self.fixed, False, self.fixed)

    @property
    def short(self) -> str:
        """'at t = 0.295' or 'at 0.5': a figure's label."""
        return f"at t = {self.threshold:.3f}" if self.operating_point else f"at {self.fixed:g}"


def pick_round(snapshot: dict, which: str | int = "last") -> int:
    """'last', 'best' (the run's model, :func:`model_round`) or a round number, checked."""
    done = snapshot["run"]["rounds_done"]
    if not done:
        raise FedXrayError(f"run {snapshot['run']['id']} has no completed round yet")
    if which == "last":
        return done
    if which == "best":
        return model_round(snapshot["run"])
    server_round = int(which)
    if not 1 <= server_round <= done:
        raise FedXrayError(
            f"round {server_round} is not available: run {snapshot['run']['id']} "
            f"completed rounds 1..{done}"
        )
    return server_round


def model_round(run: dict) -> int:
    """The run's model: its best round by global AUROC (local mode: the hospitals' mean), which
    is the 'best' checkpoint Diagnose loads; the last round until a best is recorded."""
    return run.get("best_round") or run["rounds_done"]


def operating_threshold(snapshot: dict, server_round: int) -> float | None:
    """The threshold the server chose in a round when the global model and every hospital have
    their figures there; None otherwise (a run recorded before hospitals reported test counts,
    local mode)."""
    rows = round_rows(snapshot, server_round)
    glob = rows.get(Scope("global"), {})
    hospitals = [m for s, m in rows.items() if not s.on_global_test]
    if (
        "op_threshold" not in glob
        or not hospitals
        or any(f"op_{k}" not in m for m in hospitals for k in AT_POINT)
    ):
        return None
    return float(glob["op_threshold"])


def decision(snapshot: dict, server_round: int) -> Decision:
    """The threshold a round is read at: its federated operating point, else the fixed one."""
    fixed = float(snapshot["run"]["config"].get("threshold", 0.5))
    chosen = operating_threshold(snapshot, server_round)
    if chosen is None:
        return Decision(fixed, False, fixed)
    return Decision(chosen, True, fixed)


def round_rows(snapshot: dict, server_round: int) -> dict[Scope, dict]:
    """Every scope's stored figures of one round, keyed by :class:`Scope`."""
    mode = snapshot["run"]["mode"]
    return {
        Scope.parse(m["scope"], mode): m for m in snapshot["metrics"] if m["round"] == server_round
    }


def at_decision(metrics: dict, chosen: Decision) -> dict:
    """One scope's figures read at ``chosen``: its ``op_`` figures at an operating point."""
    return at_chosen_threshold(metrics) if chosen.operating_point else metrics


def figures(snapshot: dict, server_round: int) -> tuple[Decision, dict[Scope, dict]]:
    """A round's decision and every scope's figures read there."""
    chosen = decision(snapshot, server_round)
    rows = round_rows(snapshot, server_round)
    return chosen, {s: at_decision(m, chosen) for s, m in rows.items()}


def global_figures(snapshot: dict, server_round: int, fixed: bool = False) -> tuple[Decision, dict]:
    """The global model's figures on the global test set at the round's decision (``fixed``: at
    the run's fixed threshold); in local mode the mean of the hospitals' own models there (NaN
    where a figure is missing)."""
    chosen, rows = figures(snapshot, server_round)
    if fixed:
        chosen, rows = chosen.at_fixed, round_rows(snapshot, server_round)
    own = rows.get(Scope("global"))
    if own is not None:
        return chosen, own
    models = [m for s, m in rows.items() if s.on_global_test]
    keys = {k for m in models for k, v in m.items() if isinstance(v, (int, float))}
    mean = {k: float(pd.Series([m.get(k, math.nan) for m in models]).mean()) for k in keys}
    return chosen, mean


def curves_at_decision(frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Per-round rows (``metrics_frame``) read at each round's federated operating point.

    Returns the rows with the decided figures and counts replaced by their ``op_`` figures and
    True; or ``frame`` unchanged and False when any row lacks them, so that one chart never
    mixes the two thresholds.
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
