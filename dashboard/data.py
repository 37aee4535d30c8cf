"""Cached reads of the run store for the pages (the store is written by training processes).

A snapshot is cached under the run's ``updated`` stamp: a finished run is read from
SQLite once, a running one again only when the engine has written something new.
"""

from __future__ import annotations

import streamlit as st

from dashboard.theme import STATUS_COLORS, STATUS_ICONS, STRATEGY_NAMES
from fedcore.config.run_config import RunConfig
from fedcore.results import showcase
from fedcore.results.report import metrics_frame
from fedcore.run import launch
from fedcore.store import RunStore, default_home

RUN_KEY = "run_id"  # session state: the run the user last picked, shared by every page
RUN_PARAM = "run"  # the same in the URL, so a link opens the same run


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


@st.cache_data(show_spinner=False)
def default_federation() -> dict:
    """The default embedded federation's class counts, for an empty store (no TensorFlow needed)."""
    from fedcore.data import load_federation

    return load_federation(RunConfig()).summary()


def run_title(run: dict) -> str:
    """'SCAFFOLD · cnn · DP ε 8 (patient) · sign-flip ×2 · seed 3': what a run is, in words."""
    c, attack = run["config"], run["config"].get("attack", "none")
    parts = [strategy_name(run), c["backbone"]]
    if dp := privacy_label(c):
        parts.append(dp)
    if attack != "none" and c.get("attackers") and run["mode"] == "federated":
        parts.append(f"{attack} ×{c['attackers']}")
    parts.append(f"seed {c['seed']}")
    return " · ".join(parts)


def run_label(run: dict) -> str:
    """The title, then its state and when it started: 'SCAFFOLD · cnn · seed 42 · finished
    10/10 · 12-02 05:04', so a picker tells runs apart."""
    status, _, _ = shown_status(run)
    return (
        f"{run_title(run)} · {status} {run['rounds_done']}/{run['rounds_total']} · {_started(run)}"
    )


def _started(run: dict) -> str:
    """'12-02 05:04' from a run id '20261202-050423-ab12'; the id itself otherwise."""
    stamp = run["id"]
    if len(stamp) >= 15 and stamp[8] == "-":
        return f"{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return stamp


def strategy_name(run: dict) -> str:
    """'SCAFFOLD' for a federated run; 'Centralized' or 'Local' for the references."""
    if run["mode"] != "federated":
        return run["mode"].capitalize()
    strategy = run["config"].get("strategy", "fedavg")
    return STRATEGY_NAMES.get(strategy, strategy)


def runtime_label(config: dict) -> str:
    """Where a run trained: 'Flower' (a SuperLink and its SuperNodes) or 'in-process'."""
    return "Flower" if (config.get("extra") or {}).get("runtime") == "flower" else "in-process"


def privacy_label(config: dict) -> str:
    """'DP ε 8 (patient)' for a run trained with differential privacy, '' without."""
    if config.get("dp", "off") == "off":
        return ""
    epsilon = config.get("dp_target_epsilon")
    level = "patient" if config["dp"] == "patient" else "hospital"
    return f"DP ε {epsilon:g} ({level})" if epsilon else f"DP ({level})"


def health(run: dict):
    """The run's :class:`fedcore.results.health.Health`, None before its first round."""
    if not run["rounds_done"]:
        return None
    return judged(run)[0]


def judged(run: dict):
    """:func:`fedcore.results.showcase.judge` of a run: its health and its model's AUROC, worked
    out once per run version (every picker's labels and the showcase ask for them)."""
    return _judged(str(store().home), run["id"], run["updated"])


@st.cache_data(show_spinner=False, max_entries=256)
def _judged(home: str, run_id: str, updated: float):
    return showcase.judge(_snapshot(home, run_id, updated))


def shown_status(run: dict) -> tuple[str, str, str]:
    """(words, badge colour, icon): a finished run whose model did not learn says so."""
    status = run["status"]
    if status == "finished":
        verdict = health(run)
        if verdict is not None and not verdict.learned:
            return "did not learn", "orange", ":material/warning:"
        if run["rounds_done"] < run["rounds_total"]:
            return "budget spent", "violet", ":material/shield_lock:"
    return status, STATUS_COLORS[status], STATUS_ICONS[status]


def showcase_run(candidates: list[dict]) -> dict | None:
    """The best finished run that learned (:func:`fedcore.results.showcase.showcase`)."""
    return showcase.showcase(candidates, judged)


def pick_run(
    candidates: list[dict],
    key: str,
    label: str = "Run",
    prefer_running: bool = False,
    none_label: str | None = None,
) -> dict | None:
    """One run picker for every page, remembered across pages and in the URL (``?run=ID``).

    Parameters
    ----------
    candidates : list of dict
        Runs to offer, newest first.
    key : str
        The widget key (one per page).
    prefer_running : bool
        Start on a running run when the user has not picked one (Train).
    none_label : str, optional
        Offer "no run" under this label (Diagnose: the shipped model); with it, nothing picked
        and no run that learned starts there rather than on a run that did not learn.

    Returns
    -------
    dict or None
        The run shown: the one picked, else the running one (``prefer_running``), else the best
        finished run that learned, else (without ``none_label``) the newest.
    """
    if not candidates:
        return None
    ids = [r["id"] for r in candidates]
    by_id = {r["id"]: r for r in candidates}
    wanted = st.query_params.get(RUN_PARAM) or st.session_state.get(RUN_KEY)
    if wanted not in ids and prefer_running:
        wanted = next((r["id"] for r in candidates if r["status"] == "running"), None)
    if wanted not in ids:
        best = showcase_run(candidates)
        wanted = best["id"] if best else (None if none_label else ids[0])
    options = ([None] if none_label else []) + ids
    chosen = st.selectbox(
        label,
        options,
        index=options.index(wanted),
        key=key,
        format_func=lambda i: none_label if i is None else run_label(by_id[i]),
    )
    remember(chosen)
    return by_id.get(chosen)


def remember(run_id: str | None) -> None:
    """The run every page opens on next, in the session and in the URL."""
    st.session_state[RUN_KEY] = run_id
    if run_id is None:
        st.query_params.pop(RUN_PARAM, None)
    else:
        st.query_params[RUN_PARAM] = run_id


def warn_if_unhealthy(run: dict) -> None:
    """A run that did not learn is shown only with its reason and what to try."""
    verdict = health(run)
    if verdict is not None and not verdict.learned and run["status"] != "running":
        st.warning(
            f"**This run's model did not learn**: {verdict.reason}. Try: {verdict.advice}. "
            "Its figures are shown because you picked it.",
            icon=":material/warning:",
        )


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
