"""The Train page's view of one run: status, progress, Stop / Resume, curves and table, live while
it trains.

What changes while the run trains (progress, Stop / Resume, curves, table) is drawn inside
one ``st.fragment`` that looks at the store again every :data:`REFRESH_SECONDS` while the
run is live; the header above it and the form are drawn by the page, which reruns only
when the run goes live or stops (a fragment's ``run_every`` is fixed when the page draws
it). A fragment clears what it wrote outside its own container the next time it runs (a
fragment that drew the curves into a slot outside itself left the viewer looking at white
space between rounds), so the fragment writes nothing outside itself.

The training runs on the same cores as the browser and the server, so a refresh must cost
them little: the curves are Plotly figures (dashboard/round_curves.py) read from a cache
keyed on the rounds done, the same figures between two rounds, so the browser keeps the
charts it drew and draws again only when a round lands; the new figures are drawn behind the
ones on screen (dashboard/chart_slots.py), so a round's end never blanks them. Stop and Resume
are in the fragment: a click is a fragment rerun, which waits for a refresh in progress
instead of racing it.
"""

from __future__ import annotations

import datetime
import shlex
import time

import pandas as pd
import streamlit as st

from dashboard import chart_slots, charts, data, estimate, round_curves
from dashboard.contribution_figures import contribution_by_round
from dashboard.theme import STATUS_COLORS, STATUS_ICONS, scope_label
from fedcore.config import flags
from fedcore.config.run_config import EMBEDDED, RunConfig
from fedcore.errors import FedXrayError
from fedcore.privacy.tables import epsilon_frame
from fedcore.results.decision import curves_at_decision
from fedcore.results.report import metrics_frame, rounds_table
from fedcore.results.scope import is_global_test
from fedcore.results.sites import site_states
from fedcore.run import launch
from fedcore.run.serving import public_text
from fedcore.server.who_helped import attackers, flag_notes

# Seconds between two looks at the store while a run is live.
REFRESH_SECONDS = 1.5
CURVES = ("accuracy", "auroc", "loss", "sensitivity", "specificity", "f1")
# Pixels. Six in a row on a wide screen: with the run's header and progress above them, all six
# show on a 1440x900 screen (three by two at 250 px, the second row was below the fold).
CURVE_HEIGHT = 230
GRID_KEY = "curves_grid"
# The row of six wraps into three by two where six would be too narrow to read (under 1400 px),
# and Streamlit stacks the columns one under another on a phone (under 640 px) by itself. The
# style sits in the page, with a marker that takes no room, as chart_slots.FRONT_MARKER does.
GRID_MARKER = (
    "<style>"
    "@media (min-width: 640px) and (max-width: 1399px) {"
    f" .st-key-{GRID_KEY} div[data-testid='stHorizontalBlock'] {{ flex-wrap: wrap; }}"
    f" .st-key-{GRID_KEY} div[data-testid='stColumn'] {{"
    " flex: 1 1 calc(33.3% - 1rem) !important; min-width: calc(33.3% - 1rem) !important; }"
    "}"
    f"div[data-testid='stElementContainer']:has(.fx-curve-grid) {{ display: none; }}"
    "</style><span class='fx-curve-grid'></span>"
)
# Session key: what the two stacked slots of each curve hold (dashboard/chart_slots.py).
SLOTS_KEY = "live_curve_slots"


def is_live(run_id: str) -> bool:
    """Whether ``run_id`` is training now, or its training process is starting (a fresh Resume).

    A resumed run stays 'stopped' in the store until its child has imported TensorFlow
    and marked it running; :func:`fedcore.run.launch.active_run` already counts that child.
    """
    active = launch.active_run(data.store())
    return active is not None and active["id"] == run_id


def show(run_id: str) -> None:
    """Draw one run; while it is live, look at the store again every :data:`REFRESH_SECONDS`.

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
    st.fragment(_run_view, run_every=REFRESH_SECONDS if live else None)(run_id, live)


def _run_view(run_id: str, was_live: bool) -> None:
    # One read of the store a refresh, and no write: the server's cost while a judge watches.
    store = data.store()
    try:
        run, snap = store.look(run_id, known=_held.get((str(store.home), run_id)))
    except FedXrayError:
        st.rerun(scope="app")  # deleted meanwhile: the page says so
    live = run["status"] == "running" or launch.starting(store, run)
    if live != was_live:
        # Started, resumed or ended: the page draws the header and this view again.
        st.rerun(scope="app")
    # One container whatever the controls hold (progress and Stop, Resume, or the finished
    # headline): the curves after it keep their place, so the browser keeps their plots.
    with st.container():
        _controls(run, live)
    _rounds(run, snap)


def _header(run: dict, live: bool) -> None:
    c = run["config"]
    if live:
        status, color, icon = "running", STATUS_COLORS["running"], STATUS_ICONS["running"]
    else:
        status, color, icon = data.shown_status(run)
    st.markdown(f"#### {data.run_title(run)} :{color}-badge[{icon} {status}]")
    attack = data.attack_label(run)
    dp = data.privacy_label(c)
    st.caption(
        f"Run `{run['id']}` · {data.strategy_name(run)} · "
        + ("over Flower · " if data.runtime_label(c) == "Flower" else "")
        + (f":violet[{dp}] · " if dp else "")
        + f"{c['backbone']} at {RunConfig.from_dict(c).input_size} px · "
        f"{run['rounds_total']} rounds × {RunConfig.from_dict(c).epochs} local epoch(s) · "
        f"{c['hospitals'] if c['data'] == EMBEDDED else 'folder'} hospitals · seed {c['seed']}"
        + (f" · max {c['max_per_hospital']} images/hospital" if c.get("max_per_hospital") else "")
        + (f" · :red[{attack}]" if attack else "")
    )
    with st.expander("The same run from the command line", icon=":material/terminal:"):
        st.code(
            shlex.join(
                ["python", "-m", "fedcore", "train", *flags.train_flags(RunConfig.from_dict(c))]
            ),
            language="bash",
        )


def _controls(run: dict, live: bool) -> None:
    """The progress bar and Stop while the run is live; why it ended and Resume when it can
    continue."""
    resumable = run["status"] in ("stopped", "failed") and run["rounds_done"] < run["rounds_total"]
    if not live and run["status"] == "finished":
        _ending(run)
        return
    state, button = st.columns([6, 1], vertical_alignment="center")
    store = data.store()
    if live:
        with state:
            _progress(run)
        if button.button("Stop", icon=":material/stop_circle:", key="stop", width="stretch"):
            launch.stop(store, run["id"])
            st.toast(
                "Stopping after the current step; finished rounds are kept.",
                icon=":material/pause:",
            )
        return
    if resumable:
        # In a callback, before the fragment runs again: that run then finds the run live and
        # reruns the page before drawing anything, as after Stop (resuming in the fragment's body
        # made the browser drop the six curves and mount them afresh).
        button.button(
            "Resume",
            icon=":material/play_arrow:",
            key="resume",
            type="primary",
            width="stretch",
            on_click=_resume,
            args=(run["id"],),
        )
    if run["status"] == "failed":
        state.error(f"This run failed: {public_text(run['error'] or '')}", icon=":material/error:")
    elif run["status"] == "stopped":
        state.warning(
            f"Stopped after {run['rounds_done']} of {run['rounds_total']} rounds; Resume continues "
            "from "
            "the last completed round.",
            icon=":material/pause_circle:",
        )


def _ending(run: dict) -> None:
    """A finished run's headline (its model's AUROC, accuracy at its threshold, health) and the
    way on to Fairness and Diagnose."""
    verdict = data.health(run)
    if verdict is None:
        return
    if verdict.learned:
        st.success(f"**Finished: the model learned.** {verdict.reason}.", icon=":material/check:")
    else:
        st.warning(
            f"**Finished, but the model did not learn**: {verdict.reason}. Try: {verdict.advice}.",
            icon=":material/warning:",
        )
    data.remember(run["id"])
    links = st.container(horizontal=True)
    links.page_link(
        "views/fairness.py", label="Fairness across hospitals", icon=":material/balance:"
    )
    links.page_link("views/diagnose.py", label="Diagnose an X-ray", icon=":material/radiology:")


def _resume(run_id: str) -> None:
    """Resume's callback. A refusal (say, another run started meanwhile) is said in a toast,
    whichever run the page shows next."""
    try:
        launch.resume(data.store(), run_id)
    except FedXrayError as exc:
        st.toast(public_text(str(exc)), icon=":material/block:")


def _progress(run: dict) -> None:
    # Before the child's first heartbeat: time since it was launched, from the newest
    # 'launched' or 'resumed' moment the store knows (the row's creation, or its pid change).
    since = time.time() - (run["updated"] if run["status"] != "running" else run["created"])
    fraction, words = estimate.progress(run.get("progress"), since)
    if run["status"] != "running":
        words = "Resuming: " + words[0].lower() + words[1:]
    st.progress(fraction, text=words)


def _rounds(run: dict, snap: dict | None) -> None:
    home = str(data.store().home)
    drawn = _round_view(home, run["id"], run["rounds_done"], run["status"], snap)
    if drawn is None:
        # The six empty frames, laid out as they will be once round 1 lands (the same elements
        # before the grid): the curves grow into them, and Plotly is loaded before the first draw.
        st.markdown(f"**0 of {run['rounds_total']} rounds complete**")
        st.caption("The curves appear here when the first round completes.")
        st.html("<div style='font-size:0.9rem'>&nbsp;</div>")
        _curve_grid(run["id"], (0, ()), _empty_figures(run["rounds_total"]))
        return
    frame = drawn["frame"]
    st.markdown(f"**{run['rounds_done']} of {run['rounds_total']} rounds complete**")
    extremes = round_curves.worst_and_best(frame)
    asked: tuple[str, ...] = ()
    if extremes is not None:
        others = sorted(
            {s for s in frame["scope"] if not is_global_test(s)} - set(extremes),
            key=lambda s: int("".join(ch for ch in s if ch.isdigit()) or 0),
        )
        asked = tuple(
            st.multiselect(
                f"{len(others) + 2} hospitals: the curves show the worst "
                f"({scope_label(extremes[0])}) and the best "
                f"({scope_label(extremes[1])}) by the latest accuracy. Add others:",
                others,
                key="curves_more",
                format_func=scope_label,
                placeholder="more hospitals",
            )
        )
    # The attackers are always drawn: their flags, round by round, are what the legend is for.
    scopes = round_curves.shown_scopes(frame, asked + tuple(drawn["attackers"]))
    st.caption(
        "Global: the global model on the global test set. Hospital k: on hospital k's own test set"
        + (
            " (dotted: hospital k's local model on the global test set)."
            if run["mode"] == "local"
            else "."
        )
        + (
            " Accuracy, sensitivity, specificity and F1 at each round's federated operating point "
            "(the table "
            "below gives the threshold, and the same at the fixed threshold)."
            if drawn["at_point"]
            else " Accuracy, sensitivity, specificity and F1 at the fixed threshold "
            f"{drawn['threshold']:g}."
        )
        + " Point at a dot for its value."
    )
    panels = _panels(home, run, tuple(scopes))
    st.html(f"<div style='font-size:0.9rem'>{panels['legend']}</div>")
    _curve_grid(run["id"], (run["rounds_done"], tuple(scopes)), panels["figures"])
    if drawn["sites"] is not None:
        st.caption(
            "The sites over Flower, as the server saw them: the rounds each took part in, where "
            "it dropped out (no answer within the round's timeout) and came back, what it is "
            "doing in the round now (while the run trains), and its last contact (its last "
            "answer, or the end of the last round it took part in)."
        )
        st.dataframe(
            drawn["sites"],
            hide_index=True,
            column_config={"last contact": st.column_config.DatetimeColumn(format="HH:mm:ss")},
        )
    table = drawn["table"]
    st.caption(
        "The global model each round: accuracy, sensitivity and specificity at the round's "
        "decision threshold (the federated operating point the server chose from the hospitals' "
        "validation counts, where the round has one), then at the fixed threshold "
        f"{drawn['threshold']:g}."
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.4f" if c == "threshold" else "%.3f")
            for c in table.columns[2:]
        },
    )
    if drawn["epsilon"] is not None:
        st.caption(
            "Privacy spent so far: each hospital's epsilon after each round (smaller is more "
            "private; the dotted line is the run's target)."
        )
        st.plotly_chart(drawn["epsilon"], key="train_epsilon", config=charts.PLOT_CONFIG)
    if drawn["contribution"] is not None:
        st.caption(
            "Who helped: each hospital's contribution this round, how much lower the global "
            "model's validation AUROC would have been without its update (leave one out; below "
            "zero, the model did better without it)."
        )
        st.plotly_chart(drawn["contribution"], key="train_contribution", config=charts.PLOT_CONFIG)
    if drawn["problems"]:
        with st.expander(f"Events ({len(drawn['problems'])})", icon=":material/report:"):
            for e in drawn["problems"]:
                st.markdown(f"- round {e['round'] or '–'}: {e['message']}")


def _curve_grid(run_id: str, token: tuple, figures: dict) -> None:
    """The six curves, each in two stacked slots (dashboard/chart_slots.py) so a round's end never
    blanks them.

    Six side by side on a wide screen, three by two on a narrower one, one under another on a
    phone (:data:`GRID_MARKER`).
    """
    slots = chart_slots.next_slots(st.session_state.get(SLOTS_KEY), run_id, token, figures)
    st.session_state[SLOTS_KEY] = slots
    grid = st.container(key=GRID_KEY)
    grid.html(GRID_MARKER)
    for column, metric in zip(grid.columns(len(CURVES)), CURVES):
        with column.container(key=chart_slots.CELL_KEY.format(name=metric)):
            for index, slot in enumerate(slots["slots"]):
                with st.container(key=chart_slots.SLOT_KEY.format(index=index, name=metric)):
                    if slot is not None:
                        st.plotly_chart(
                            slot["figures"][metric],
                            key=f"curve_{metric}_{index}",
                            config=charts.PLOT_CONFIG,
                        )
                    if index == slots["front"]:
                        # After the chart: it is on its way before its slot comes forward.
                        st.html(chart_slots.FRONT_MARKER)


@st.cache_resource(show_spinner=False, max_entries=4)
def _empty_figures(rounds_total: int) -> dict:
    """The six frames before round 1: axes over the whole run, no curve yet."""
    empty = pd.DataFrame({"scope": [], "round": []})
    return {m: round_curves.metric_figure(empty, m, [], rounds_total, CURVE_HEIGHT) for m in CURVES}


def _panels(home: str, run: dict, scopes: tuple[str, ...]) -> dict:
    """The legend and the six figures, built once a round and handed unchanged to every refresh."""
    return _built_panels(
        home, run["id"], run["rounds_done"], run["status"], run["rounds_total"], scopes
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _built_panels(
    home: str, run_id: str, rounds_done: int, status: str, rounds_total: int, scopes: tuple
) -> dict:
    drawn = _round_view(home, run_id, rounds_done, status)
    return {
        "legend": charts.scope_legend(scopes, drawn["attackers"], drawn["flags"]),
        "figures": {
            m: round_curves.metric_figure(
                drawn["frame"], m, list(scopes), rounds_total, CURVE_HEIGHT
            )
            for m in CURVES
        },
    }


# (store folder, run) -> the (rounds_done, status) whose view :func:`_round_view` last built, so
# that a refresh asks the store for the rounds only when there is a new version.
_held: dict[tuple[str, str], tuple[int, str]] = {}


@st.cache_resource(show_spinner=False, max_entries=8)
def _round_view(
    home: str, run_id: str, rounds_done: int, status: str, _snap: dict | None = None
) -> dict | None:
    """The metrics, table, attackers and warnings of a run as of ``rounds_done``, built once and
    shared by every session, from ``_snap`` (read with the refresh's look at the run) or a read.

    Keyed on the rounds done rather than the run's update stamp, which every heartbeat moves:
    between two rounds each refresh reuses them instead of reading the store again.
    ``status`` is in the key so that a run's closing events show when it stops or fails.
    """
    snap = _snap if _snap is not None else data.store().snapshot(run_id)
    _held[(home, run_id)] = (rounds_done, status)
    frame = metrics_frame(snap)
    if frame.empty:
        return None
    threshold = float(snap["run"]["config"].get("threshold", RunConfig.threshold))
    table = rounds_table(snap, {r["round"]: r["seconds"] for r in snap["rounds"]})
    curves, at_point = curves_at_decision(frame)
    return {
        "frame": curves,
        "at_point": at_point,
        "threshold": threshold,
        "attackers": attackers(snap),
        "flags": flag_notes(snap["rounds"]),
        "table": table,
        "problems": [e for e in snap["events"] if e["level"] in ("warning", "error")],
        "epsilon": _epsilon_figure(snap),
        "contribution": contribution_by_round(snap["rounds"]),
        "sites": _sites(snap),
    }


def _sites(snap: dict) -> pd.DataFrame | None:
    """Each site's state in a run deployed over Flower (None for an in-process run)."""
    if data.runtime_label(snap["run"]["config"]) != "Flower":
        return None
    rows = site_states(snap)

    def clock(seconds: float | None) -> datetime.datetime | None:
        return datetime.datetime.fromtimestamp(seconds) if seconds else None

    return pd.DataFrame(
        {
            "hospital": [scope_label(r["hospital"]) for r in rows],
            "state": [r["state"] for r in rows],
            "in this round": [
                f"{r['now']} since {clock(r['since']):%H:%M:%S}" if r["now"] and r["since"] else "—"
                for r in rows
            ],
            "rounds taken part": [r["rounds"] for r in rows],
            "last contact": [clock(r["last_contact"]) for r in rows],
        }
    )


def _epsilon_figure(snap: dict):
    """Each hospital's epsilon spent by round, for a run with differential privacy (else None)."""
    spent = epsilon_frame(snap)
    if spent.empty:
        return None
    return charts.epsilon_by_round(spent, snap["run"]["config"].get("dp_target_epsilon"))
