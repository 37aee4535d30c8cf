"""Runs: every run with its status and settings, curves of several runs on one chart, and delete."""

import datetime

import pandas as pd
import streamlit as st

from dashboard import charts, data, run_report
from dashboard.first_open import offer_default_run
from dashboard.glossary import GLOSSARY
from dashboard.theme import METRIC_LABELS
from fedcore.config.run_config import RunConfig
from fedcore.results import decision, report
from fedcore.results.scope import is_global_test

st.title("Runs")
store = data.store()
runs = data.runs()
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
            "run": data.run_title(r),
            "status": data.shown_status(r)[0],
            "health": (h.reason if (h := data.health(r)) is not None else ""),
            "privacy": data.privacy_label(r["config"]) or "off",
            "attack": data.attack_label(r),
            "runtime": data.runtime_label(r["config"]),
            "model": f"{r['config']['backbone']} {RunConfig.from_dict(r['config']).input_size} px",
            "rounds": f"{r['rounds_done']}/{r['rounds_total']}",
            "hospitals": str(r["config"]["hospitals"])
            if r["config"]["data"] == "embedded"
            else "folder",
            "split": f"{r['config']['partition']} α={r['config']['alpha']}",
            "started": datetime.datetime.fromtimestamp(r["created"]),
            "id": r["id"],
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
        "health": st.column_config.TextColumn(
            help="Whether the run's global model learned: its AUROC and accuracy at its "
            "decision threshold, or why it did not."
        ),
        "privacy": st.column_config.TextColumn(help=GLOSSARY["epsilon"]),
        "runtime": st.column_config.TextColumn(
            help="in-process: one process simulated the hospitals; Flower: a SuperLink and one "
            "SuperNode per hospital (python -m fedcore serve / site)."
        ),
    },
)

st.subheader("Compare runs", divider="gray")
st.caption(
    "Pick runs to see their global model side by side, e.g. FedAvg and a robust aggregator "
    "(median, trimmed-mean, krum) under the same attack: `python -m fedcore train --attack "
    "sign-flip --attackers 2 --hospitals 10 --strategy fedavg`, then the same with "
    "`--strategy trimmed-mean`. Accuracy, sensitivity, specificity and F1 are read at each "
    "round's decision threshold (the federated operating point where the run has one), as on "
    "the Train page."
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
        frame, _ = decision.curves_at_decision(data.frame(by_id[run_id]))
        own = frame[frame["scope"] == "global"]
        # A local-mode run has one model per hospital: compare the mean of their global-test scores.
        rows = own if len(own) else frame[frame["scope"].map(is_global_test)]
        curves[data.run_label(by_id[run_id])] = rows.groupby("round", as_index=False)[metric].mean()
    st.plotly_chart(charts.compare_runs(curves, metric), key="compare", config=charts.PLOT_CONFIG)
    export = pd.concat([report.every_figure(data.snapshot(by_id[i])) for i in picked])
    st.download_button(
        f"Every figure of the {len(picked)} chosen run(s), every round and scope (CSV)",
        export.to_csv(index=False).encode(),
        "fedxray_runs.csv",
        "text/csv",
        icon=":material/download:",
        help="One row per run, round, model and test set: the figures at the round's decision "
        "threshold (its value and rule are columns), and accuracy, sensitivity, specificity and "
        "the counts at the fixed threshold beside them.",
    )
else:
    st.caption("Pick one or more runs that completed a round.")

st.subheader("Take a run away", divider="gray")
a, b = st.columns([3, 2], vertical_alignment="bottom")
report_run = a.selectbox(
    "Run",
    list(by_id),
    index=None,
    placeholder="choose a run",
    key="report_pick",
    format_func=lambda i: data.run_label(by_id[i]),
)
if report_run is not None:
    b.download_button(
        "Download its report (HTML)",
        run_report.report_html(by_id[report_run]),
        f"{report_run}_report.html",
        "text/html",
        icon=":material/download:",
        help="One HTML file: settings, data, curves, Tables 1 and 2 at the run's threshold, "
        "fairness, ROC and reliability, privacy and health; it opens offline.",
    )

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
            data.remember(None)
        st.toast(f"Deleted run {victim}.", icon=":material/delete:")
        st.rerun()
