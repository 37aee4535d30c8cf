"""Cached reads of the run store for the pages (the store is written by training processes).

A snapshot is cached under the run's ``updated`` stamp: a finished run is read from
SQLite once, a running one again only when the engine has written something new.
"""

from __future__ import annotations

import math

import streamlit as st

from fedcore.config.run_config import RunConfig
from fedcore.privacy.tables import dp_label
from fedcore.results.report import metrics_frame
from fedcore.run import launch
from fedcore.store import RunStore, default_home

RUN_KEY = "run_id"  # session state: the run the user last picked, shared by every page


@st.cache_resource(show_spinner=False)
def _store(home: str) -> RunStore:
    return RunStore(home)


def store() -> RunStore:
    """The run store under FEDCORE_HOME (one object per folder, shared by every session)."""
    return _store(str(default_home()))


def runs() -> list[dict]:
    """Every run, newest first; exited training children are reaped first."""
    launch.reap(store())
    return store().list_runs()


@st.cache_data(show_spinner=False, max_entries=64)
def _snapshot(home: str, run_id: str, updated: float) -> dict:
    return _store(home).snapshot(run_id)


def snapshot(run: dict) -> dict:
    """A run's rounds, metrics and events (cached until the run changes)."""
    return _snapshot(str(store().home), run["id"], run["updated"])


def frame(run: dict):
    """The run's metrics as a frame: round, scope, one column per metric."""
    return metrics_frame(snapshot(run))


def strategy_label(run: dict) -> str:
    """'federated scaffold', or the mode alone for centralized and local runs (they aggregate
    nothing)."""
    strategy = run["config"].get("strategy")
    return f"{run['mode']} {strategy}" if run["mode"] == "federated" and strategy else run["mode"]


def attack_label(run: dict) -> str:
    """'2 attackers: sign-flip', or '' for a run without a simulated attack."""
    c = run["config"]
    if c.get("attack", "none") == "none" or not c.get("attackers") or run["mode"] != "federated":
        return ""
    return f"{c['attackers']} attacker{'s' if c['attackers'] > 1 else ''}: {c['attack']}"


def attackers(snapshot: dict) -> list[str]:
    """The hospitals that sent poisoned updates in a run (its ``attack`` events), for the pages to
    mark."""
    return sorted(
        {
            name
            for e in snapshot["events"]
            if e["kind"] == "attack"
            for name in (e["data"] or {}).get("attackers", [])
        }
    )


@st.cache_data(show_spinner=False)
def default_federation() -> dict:
    """The default embedded federation's class counts, for an empty store (no TensorFlow needed)."""
    from fedcore.data import load_federation

    return load_federation(RunConfig()).summary()


# Figures that depend on the decision threshold: shown at the federated operating point when a run
# has one.
DECISION_METRICS = ("accuracy", "sensitivity", "specificity")


def decision_figures(metrics) -> tuple[float, dict[str, float]]:
    """A round's federated operating point and the :data:`DECISION_METRICS` there.

    ``metrics`` is one scope's figures of one round (a dict or a pandas row). A run
    recorded before the operating point existed has none: NaN, and the figures at its
    fixed threshold.
    """
    op = float(metrics.get("op_threshold", math.nan))
    prefix = "" if math.isnan(op) else "op_"
    return op, {name: float(metrics[prefix + name]) for name in DECISION_METRICS}


def run_label(run: dict) -> str:
    """'20261127-020206-0580 · federated scaffold cnn · 10/10 rounds · finished', then DP and the
    attack if any.

    Differential privacy is named ('patient-level DP, epsilon 8'): without it the Privacy
    page's picker showed a DP run and its no-DP twin under the same words.
    """
    c, attack = run["config"], attack_label(run)
    dp = privacy_label(c)
    return (
        f"{run['id']} · {strategy_label(run)} {c['backbone']} · {run['rounds_done']}/"
        f"{run['rounds_total']} rounds · {run['status']}"
        + "".join(f" · {x}" for x in (dp, attack) if x)
    )


def privacy_label(config: dict) -> str:
    """'patient-level DP, epsilon 8' for a run trained with differential privacy, '' without."""
    if config.get("dp", "off") == "off":
        return ""
    return dp_label(config) + (
        f", epsilon {config['dp_target_epsilon']:g}" if config.get("dp_target_epsilon") else ""
    )


def pick_run(
    candidates: list[dict], key: str, label: str = "Run", prefer_running: bool = False
) -> dict | None:
    """A run selectbox that remembers the choice across pages (session state ``run_id``).

    Parameters
    ----------
    candidates : list of dict
        Runs to offer, newest first.
    key : str
        The widget key (one per page).
    prefer_running : bool
        Start on a running run when the user has not picked one.
    """
    if not candidates:
        return None
    ids = [r["id"] for r in candidates]
    wanted = st.session_state.get(RUN_KEY)
    if prefer_running and wanted not in ids:
        wanted = next((r["id"] for r in candidates if r["status"] == "running"), None)
    index = ids.index(wanted) if wanted in ids else 0
    by_id = {r["id"]: r for r in candidates}
    chosen = st.selectbox(
        label, ids, index=index, key=key, format_func=lambda i: run_label(by_id[i])
    )
    st.session_state[RUN_KEY] = chosen
    return by_id[chosen]


@st.cache_resource(show_spinner=False)
def diagnosis_engine():
    """fedcore.diagnosis.score, imported on first use: it brings TensorFlow, which only Diagnose
    needs."""
    from fedcore.diagnosis import score as diagnosis

    return diagnosis


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _run_model(
    home: str, run_id: str, checkpoint: str, model_name: str | None, checkpoint_round: int
):
    # checkpoint_round is part of the key only: a running run's best/last checkpoint moves on.
    return diagnosis_engine().load_run_model(_store(home), run_id, checkpoint, model_name)


def run_model(run: dict, checkpoint: str = "best", model_name: str | None = None):
    """A run's model with one checkpoint's weights, loaded once per checkpoint and shared by
    sessions."""
    moved = run["best_round"] if checkpoint == "best" else run["rounds_done"]
    return _run_model(str(store().home), run["id"], checkpoint, model_name, moved or 0)
