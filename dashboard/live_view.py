"""The Train page's view of one run: status, progress, Stop / Resume, curves and table, live while it trains.

A Streamlit fragment clears what it wrote outside its own container the next time it
runs: a fragment that drew the curves into a slot outside itself, and then skipped
redrawing them, left the viewer looking at white space between rounds. Here the
refreshing ``st.fragment`` draws one thing, the progress bar, inside itself, and reruns
the whole page when there is more to draw: a completed round (the page then draws the
curves and the table, outside any fragment, so no refresh clears them) or a run that
goes live or stops (a fragment's ``run_every`` is fixed when the page draws it, so the
refresh starts with Start or Resume and ends with the run). Chromium then redraws the
six panels once a round instead of at every refresh.
"""

from __future__ import annotations

import shlex
import time

import streamlit as st

from dashboard import charts, data, estimate
from dashboard.theme import STATUS_COLORS, STATUS_ICONS
from fedcore import flags, launch
from fedcore.config import EMBEDDED, RunConfig
from fedcore.errors import FedXrayError
from fedcore.report import metrics_frame

# Seconds between two looks at the store while a run is live.
REFRESH_SECONDS = 1.5
CURVES = ("accuracy", "auroc", "loss", "sensitivity", "specificity", "f1")
PANELS_PER_ROW = 3


def is_live(run_id: str) -> bool:
    """Whether ``run_id`` is training now, or its training process is starting (a fresh Resume).

    A resumed run stays 'stopped' in the store until its child has imported TensorFlow
    and marked it running; :func:`fedcore.launch.active_run` already counts that child.
    """
    active = launch.active_run(data.store())
    return active is not None and active["id"] == run_id


def show(run_id: str) -> None:
    """Draw one run; while it is live, look at the store again every :data:`REFRESH_SECONDS`.

    The fragment owns only the progress bar, the one thing that changes between rounds. It
    reruns the whole page when a round completes or the run goes live or stops, and the page
    draws the header, Stop / Resume, the curves and the table: so the browser redraws the six
    panels once a round, not at every refresh (which cost Chromium about half a core).

    Parameters
    ----------
    run_id : str
        The run to show (the active one, or the one the user last picked).
    """
    live = is_live(run_id)
    try:
        run = data.store().get_run(run_id)
    except FedXrayError:
        st.warning(f"Run {run_id} was deleted.", icon=":material/delete:")
        return
    _header(run, live)
    st.fragment(_progress_view, run_every=REFRESH_SECONDS if live else None)(run_id, live, run["rounds_done"])
    _rounds(run)


def _progress_view(run_id: str, was_live: bool, rounds_shown: int) -> None:
    store = data.store()
    live = is_live(run_id)
    try:
        run = store.get_run(run_id)
    except FedXrayError:
        st.rerun(scope="app")  # deleted meanwhile: the page says so
    # One slot whether or not there is a progress bar, so that the charts below keep their place
    # in the page: an element that moves is mounted afresh, and Plotly takes a second to draw it.
    with st.container():
        if live:
            _progress(store, run)
    if live != was_live or run["rounds_done"] != rounds_shown:
        st.rerun(scope="app")  # a new round for the curves, or new buttons and refresh for a new state


def _header(run: dict, live: bool) -> None:
    head, buttons = st.columns([4, 1], vertical_alignment="center")
    c = run["config"]
    status = "running" if live else run["status"]
    head.markdown(f"#### Run `{run['id']}` :{STATUS_COLORS[status]}-badge[{STATUS_ICONS[status]} {status}]")
    head.caption(f"{run['mode']} · {c['backbone']} at {RunConfig.from_dict(c).input_size} px · "
                 f"{run['rounds_total']} rounds × {c['local_epochs']} local epoch(s) · "
                 f"{c['hospitals'] if c['data'] == EMBEDDED else 'folder'} hospitals · seed {c['seed']}"
                 + (f" · max {c['max_per_hospital']} images/hospital" if c.get("max_per_hospital") else ""))
    with head.expander("The same run from the command line", icon=":material/terminal:"):
        st.code(shlex.join(["python", "-m", "fedcore", "train", *flags.train_flags(RunConfig.from_dict(c))]),
                language="bash")
    store = data.store()
    notice = st.container()  # always there, empty or not: the fragment below keeps its place
    if live:
        if buttons.button("Stop", icon=":material/stop_circle:", key="stop", width="stretch"):
            launch.stop(store, run["id"])
            st.toast("Stopping after the current step; finished rounds are kept.", icon=":material/pause:")
    elif run["status"] in ("stopped", "failed") and run["rounds_done"] < run["rounds_total"]:
        if buttons.button("Resume", icon=":material/play_arrow:", key="resume", type="primary", width="stretch"):
            try:
                launch.resume(store, run["id"])
            except FedXrayError as exc:
                notice.error(str(exc), icon=":material/block:")
                return
            st.rerun()
    if live:
        return
    if run["status"] == "failed":
        notice.error(f"This run failed: {run['error']}", icon=":material/error:")
    elif run["status"] == "stopped":
        notice.warning(f"Stopped after {run['rounds_done']} of {run['rounds_total']} rounds; Resume continues from "
                   "the last completed round.", icon=":material/pause_circle:")


def _progress(store, run: dict) -> None:
    # Before the child's first heartbeat: time since it was launched, from the newest
    # 'launched' or 'resumed' moment the store knows (the row's creation, or its pid change).
    since = time.time() - (run["updated"] if run["status"] != "running" else run["created"])
    fraction, words = estimate.progress(run.get("progress"), since)
    if run["status"] != "running":
        words = "Resuming: " + words[0].lower() + words[1:]
    st.progress(fraction, text=words)


def _rounds(run: dict) -> None:
    drawn = _round_view(str(data.store().home), run["id"], run["rounds_done"], run["status"])
    if drawn is None:
        st.caption("The curves appear here when the first round completes.")
        return
    st.markdown(f"**{run['rounds_done']} of {run['rounds_total']} rounds complete**")
    st.caption("Global: the global model on the global test set. Hospital k: on hospital k's own test set"
               + (" (dotted: hospital k's local model on the global test set)." if run["mode"] == "local" else "."))
    st.html(f"<div style='font-size:0.9rem'>{drawn['legend']}</div>")
    for start in range(0, len(CURVES), PANELS_PER_ROW):
        for column, metric in zip(st.columns(PANELS_PER_ROW), CURVES[start:start + PANELS_PER_ROW]):
            column.plotly_chart(drawn["panels"][metric], key=f"curve_{metric}", config=charts.PLOT_CONFIG)
    st.dataframe(drawn["table"], hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in drawn["table"].columns[2:]})
    if drawn["problems"]:
        with st.expander(f"Events ({len(drawn['problems'])})", icon=":material/report:"):
            for e in drawn["problems"]:
                st.markdown(f"- round {e['round'] or '–'}: {e['message']}")


@st.cache_resource(show_spinner=False, max_entries=8)
def _round_view(home: str, run_id: str, rounds_done: int, status: str) -> dict | None:
    """The curves, table and warnings of a run as of ``rounds_done``, built once and shared by every session.

    Keyed on the rounds done rather than the run's update stamp, which every heartbeat moves:
    between two rounds each refresh reuses these objects instead of rebuilding six figures.
    ``status`` is in the key so that a run's closing events show when it stops or fails.
    """
    snap = data.store().snapshot(run_id)
    frame = metrics_frame(snap)
    if frame.empty:
        return None
    table = frame[frame["scope"].str.startswith("global")].copy()
    table["seconds"] = table["round"].map({r["round"]: r["seconds"] for r in snap["rounds"]})
    columns = ["round", "scope", "seconds", "accuracy", "auroc", "loss", "sensitivity", "specificity", "f1"]
    return {"panels": {m: charts.metric_panel(frame, m) for m in CURVES},
            "legend": charts.scope_legend(frame["scope"]),
            "table": table[columns].sort_values(["round", "scope"], ascending=[False, True]),
            "problems": [e for e in snap["events"] if e["level"] in ("warning", "error")]}
