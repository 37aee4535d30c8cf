"""Train: configure and start a run (a child process), then watch it learn, stop it or resume it."""

import shlex

import streamlit as st

from dashboard import charts, data, estimate, run_form
from dashboard.theme import STATUS_COLORS, STATUS_ICONS
from fedcore import flags, launch
from fedcore.config import DEFAULT_IMAGE_SIZE, EMBEDDED, RunConfig
from fedcore.errors import FedXrayError

REFRESH_SECONDS = 1.5
DRAWN_KEY = "_train_drawn"  # (run, rounds done, status) whose curves are on screen
CURVES = ("accuracy", "auroc", "loss", "sensitivity", "specificity", "f1")
store = data.store()
runs = data.runs()
active = launch.active_run(store)

st.title("Train a federation")

# ---------------------------------------------------------------- the run configuration
run_form.render(store, runs, expanded=active is None)

# ---------------------------------------------------------------- the live view
chosen = st.session_state.get(data.RUN_KEY)
shown = active or next((r for r in runs if r["id"] == chosen), None) or (runs[0] if runs else None)
if shown is None:
    st.info("No runs yet. Pick the settings above and press **Start training**; "
            "a run started with `python -m fedcore train` shows up here too.", icon=":material/info:")
    st.stop()


@st.fragment(run_every=REFRESH_SECONDS if shown["status"] == "running" else None)
def live_view(run_id: str, was_running: bool, rounds_slot) -> None:
    launch.reap(store)
    try:
        run = store.get_run(run_id)
    except FedXrayError:
        st.warning(f"Run {run_id} was deleted.")
        return
    if was_running and run["status"] != "running":
        st.rerun(scope="app")  # the buttons and the refresh rate change with the status

    head, buttons = st.columns([4, 1], vertical_alignment="center")
    c = run["config"]
    head.markdown(f"#### Run `{run['id']}` :{STATUS_COLORS[run['status']]}-badge[{STATUS_ICONS[run['status']]} "
                  f"{run['status']}]")
    head.caption(f"{run['mode']} · {c['backbone']} at {c['image_size'] or DEFAULT_IMAGE_SIZE[c['backbone']]} px · "
                 f"{run['rounds_total']} rounds × {c['local_epochs']} local epoch(s) · "
                 f"{c['hospitals'] if c['data'] == EMBEDDED else 'folder'} hospitals · seed {c['seed']}"
                 + (f" · max {c['max_per_hospital']} images/hospital" if c.get("max_per_hospital") else ""))
    with head.expander("The same run from the command line", icon=":material/terminal:"):
        st.code(shlex.join(["python", "-m", "fedcore", "train", *flags.train_flags(RunConfig.from_dict(c))]),
                language="bash")
    if run["status"] == "running":
        if buttons.button("Stop", icon=":material/stop_circle:", key="stop", width="stretch"):
            launch.stop(store, run["id"])
            st.toast("Stopping after the current step; finished rounds are kept.", icon=":material/pause:")
        fraction, words = estimate.progress(run.get("progress"))
        st.progress(fraction, text=words)
    elif run["status"] in ("stopped", "failed") and run["rounds_done"] < run["rounds_total"]:
        if buttons.button("Resume", icon=":material/play_arrow:", key="resume", type="primary", width="stretch"):
            try:
                launch.resume(store, run["id"])
                st.rerun(scope="app")
            except FedXrayError as exc:
                st.error(str(exc), icon=":material/block:")
    if run["status"] == "failed":
        st.error(f"This run failed: {run['error']}", icon=":material/error:")
    elif run["status"] == "stopped":
        st.warning(f"Stopped after {run['rounds_done']} of {run['rounds_total']} rounds; Resume continues from "
                   "the last completed round.", icon=":material/pause_circle:")

    # The curves and the table change once a round: they live outside the fragment and are
    # redrawn only when a round completes, so the browser does not repaint them every refresh.
    drawn = (run["id"], run["rounds_done"], run["status"])
    if st.session_state.get(DRAWN_KEY) == drawn:
        return
    st.session_state[DRAWN_KEY] = drawn
    with rounds_slot.container():
        draw_rounds(run)


def draw_rounds(run: dict) -> None:
    snap = data.snapshot(run)
    frame = data.frame(run)
    if frame.empty:
        st.caption("The charts appear when the first round completes.")
        return
    st.markdown(f"**{run['rounds_done']} of {run['rounds_total']} rounds complete**")
    st.caption("Global: the global model on the global test set. Hospital k: on hospital k's own test set"
               + (" (dotted: hospital k's local model on the global test set)." if run["mode"] == "local" else "."))
    st.plotly_chart(charts.metric_grid(frame, CURVES), key="curves", config=charts.PLOT_CONFIG)

    table = frame[frame["scope"].str.startswith("global")].copy()
    seconds = {r["round"]: r["seconds"] for r in snap["rounds"]}
    table["seconds"] = table["round"].map(seconds)
    columns = ["round", "scope", "seconds", "accuracy", "auroc", "loss", "sensitivity", "specificity", "f1"]
    st.dataframe(table[columns].sort_values(["round", "scope"], ascending=[False, True]), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in columns[2:]})
    problems = [e for e in snap["events"] if e["level"] in ("warning", "error")]
    if problems:
        with st.expander(f"Events ({len(problems)})", icon=":material/report:"):
            for e in problems:
                st.markdown(f"- round {e['round'] or '–'}: {e['message']}")


st.session_state[DRAWN_KEY] = None  # a full run of the page draws everything afresh
header = st.container()
rounds_slot = st.empty()
with header:
    live_view(shown["id"], shown["status"] == "running", rounds_slot)
