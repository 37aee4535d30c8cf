"""Runs: every run with its status and settings, curves of several runs on one chart, and delete."""

import datetime

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.first_open import offer_default_run
from dashboard.theme import METRIC_LABELS
from fedcore.config.run_config import RunConfig

st.title("Runs")
store = data.store()
runs = data.runs()
st.caption(f"Run store: `{store.path}` (set FEDCORE_HOME to use another).")
if not runs:
    offer_default_run(
        "Every run appears here with its status and settings; pick several to compare their "
        "curves on one chart, or delete one. Runs started from the command line appear too.",
        key="first_open_runs",
    )
    st.stop()

table = pd.DataFrame(
    [
        {
            "run": r["id"],
            "status": r["status"],
            "mode": r["mode"],
            "strategy": data.strategy_label(r),
            "attack": data.attack_label(r),
            "model": r["config"]["backbone"],
            "px": RunConfig.from_dict(r["config"]).input_size,
            "rounds": f"{r['rounds_done']}/{r['rounds_total']}",
            "best round": r["best_round"],
            "hospitals": str(r["config"]["hospitals"])
            if r["config"]["data"] == "embedded"
            else "folder",
            "data": r["config"]["data"],
            "split": f"{r['config']['partition']} α={r['config']['alpha']}",
            "max/hospital": f"{r['config']['max_per_hospital']:,}"
            if r["config"]["max_per_hospital"]
            else "all",
            "seed": r["config"]["seed"],
            "started": datetime.datetime.fromtimestamp(r["created"]),
            "error": r["error"] or "",
        }
        for r in runs
    ]
)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "status": st.column_config.TextColumn(width="small"),
    },
)

st.subheader("Compare runs", divider="gray")
st.caption(
    "Pick runs to see their global model side by side, e.g. FedAvg and a robust aggregator "
    "(median, "
    "trimmed-mean, krum) under the same attack: `python -m fedcore train --attack sign-flip "
    "--attackers 2 "
    "--hospitals 10 --strategy fedavg`, then the same with `--strategy trimmed-mean`."
)
with_rounds = [r for r in runs if r["rounds_done"]]
by_id = {r["id"]: r for r in with_rounds}
a, b = st.columns([3, 1])
picked = a.multiselect(
    "Runs",
    list(by_id),
    default=list(by_id)[:3],
    key="compare_runs",
    format_func=lambda i: data.run_label(by_id[i]),
)
metric = b.selectbox(
    "Metric", list(METRIC_LABELS), format_func=METRIC_LABELS.get, key="compare_metric"
)
if picked:
    curves = {}
    for run_id in picked:
        frame = data.frame(by_id[run_id])
        own = frame[frame["scope"] == "global"]
        # A local-mode run has one model per hospital: compare the mean of their global-test scores.
        rows = own if len(own) else frame[frame["scope"].str.startswith("global:")]
        curve = rows.groupby("round", as_index=False)[metric].mean()
        attack = data.attack_label(by_id[run_id])
        curves[
            f"{run_id} ({data.strategy_label(by_id[run_id])}, {by_id[run_id]['config']['backbone']}"
            + (f", {attack}" if attack else "")
            + ")"
        ] = curve
    st.plotly_chart(charts.compare_runs(curves, metric), key="compare", config=charts.PLOT_CONFIG)
else:
    st.caption("Pick one or more runs that completed a round.")

st.subheader("Delete a run", divider="gray")
ids = [r["id"] for r in runs]
a, b = st.columns([3, 2], vertical_alignment="bottom")
victim = a.selectbox(
    "Run to delete",
    ids,
    index=None,
    placeholder="choose a run",
    key="delete_pick",
    format_func=lambda i: data.run_label(next(r for r in runs if r["id"] == i)),
)
confirm = b.checkbox("Also delete its checkpoints: this cannot be undone", key="delete_confirm")
if st.button(
    "Delete run", icon=":material/delete:", disabled=victim is None or not confirm, key="delete_go"
):
    status = next(r["status"] for r in runs if r["id"] == victim)
    if status == "running":
        st.error(
            f"Run {victim} is still training: stop it on the Train page first.",
            icon=":material/block:",
        )
    else:
        store.delete_run(victim)
        if st.session_state.get(data.RUN_KEY) == victim:
            st.session_state[data.RUN_KEY] = None
        st.toast(f"Deleted run {victim}.", icon=":material/delete:")
        st.rerun()
