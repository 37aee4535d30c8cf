"""Privacy: the epsilon each hospital has spent, what it sent, what an attacker could learn, and the cost.

Layout only: the figures come from the run store through fedcore.privacy.report; this
page trains nothing and imports no TensorFlow. Runs alone with
``streamlit run pages/privacy.py``; the dashboard's router adds it as a page and may
choose the run through ``st.session_state['run_id']``.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import streamlit as st

from fedcore.privacy import report as privacy_report
from fedcore.store import RunStore, default_home


RUN_KEY = "run_id"  # the dashboard's session key for the run the user last picked


@st.cache_resource
def open_store(home: str) -> RunStore:
    return RunStore(home)


# Cached under the run's (or store's) last update: a finished run is read once.
@st.cache_data(max_entries=64)
def load_snapshot(home: str, run_id: str, updated: float) -> dict:
    return RunStore(home).snapshot(run_id)


@st.cache_data(max_entries=8)
def load_comparisons(home: str, updated: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = RunStore(home)
    return privacy_report.runs_frame(store), privacy_report.latest_audits(store)


st.title("Privacy")
st.caption("What left each hospital, the differential-privacy budget it spent, and what a "
           "membership-inference attacker can still tell. See docs/privacy.md for what each mode guarantees.")

home = str(default_home())
store = open_store(home)
runs = store.list_runs()
if not runs:
    st.info("No runs yet. Start one with `python -m fedcore train --dp patient --dp-target-epsilon 8`.")
    st.stop()

ids = [r["id"] for r in runs]
preferred = st.session_state.get(RUN_KEY)
labels = {r["id"]: f"{r['id']} · {privacy_report.dp_label(r['config'])} · {r['status']}" for r in runs}
run_id = st.selectbox("Run", ids, index=ids.index(preferred) if preferred in ids else 0,
                      format_func=labels.get, key="privacy_run")
st.session_state[RUN_KEY] = run_id
run = runs[ids.index(run_id)]
snapshot = load_snapshot(home, run_id, run["updated"])
dp = privacy_report.settings(snapshot)

# ---------------------------------------------------------------- budget
st.header("Privacy budget")
epsilon = privacy_report.epsilon_frame(snapshot)
cols = st.columns(4)
cols[0].metric("Mode", dp["mode"])
final = privacy_report.final_epsilon(snapshot)
cols[1].metric("Epsilon (largest hospital)", "-" if math.isnan(final) else f"{final:.2f}")
cols[2].metric("Delta", "-" if epsilon.empty else f"{dp['delta']:g}")
cols[3].metric("Clipping norm C", "-" if epsilon.empty else f"{dp['clip_norm']:g}")
if epsilon.empty:
    st.info("This run trained without differential privacy: no epsilon to report. Its model weights "
            "still never contained images or labels (see below), but they can reveal who was trained on.")
else:
    figure = px.line(epsilon, x="round", y="epsilon", color="hospital", markers=True,
                     labels={"epsilon": "cumulative epsilon"},
                     title=f"Epsilon per hospital after each round (delta = {dp['delta']:g})")
    if dp["target_epsilon"]:
        figure.add_hline(y=dp["target_epsilon"], line_dash="dot", annotation_text="target")
    st.plotly_chart(figure)
    with st.expander("DP settings"):
        st.table({"setting": ["mode", "noise multiplier (sigma)", "clipping norm (C)", "delta", "target epsilon"],
                  "value": [dp["mode"], f"{dp['noise_multiplier']:g}", f"{dp['clip_norm']:g}", f"{dp['delta']:g}",
                            "-" if dp["target_epsilon"] is None else f"{dp['target_epsilon']:g}"]})
        if dp["hospitals"]:
            st.caption("Per hospital (patient-level DP): sampling rate q = batch / images; with a target "
                       "epsilon each hospital solves its own sigma.")
            per_hospital = pd.DataFrame(dp["hospitals"]).T
            per_hospital["epsilon now"] = epsilon.groupby("hospital")["epsilon"].last()
            st.dataframe(per_hospital)

# ---------------------------------------------------------------- utility
st.header("Cost in utility")
runs_table, audits_table = load_comparisons(home, max(r["updated"] for r in runs))
if runs_table.empty:
    st.info("No federated run has completed a round yet.")
else:
    st.plotly_chart(px.bar(runs_table, x="run", y="auroc", color="dp", hover_data=["epsilon", "accuracy", "rounds"],
                           title="Global AUROC on the global test set, last round, by run",
                           labels={"auroc": "global AUROC"}))
    st.dataframe(runs_table, hide_index=True)

# ---------------------------------------------------------------- audit
st.header("Membership-inference audit")
audits = privacy_report.audit_frame(snapshot)
if audits.empty:
    st.info(f"No audit of this run yet: `python -m fedcore audit {run_id}` runs one.")
else:
    latest = audits[audits["audit"] == audits["audit"].max()]
    st.caption(f"Latest audit: round {int(latest['round'].iloc[0])} ({latest['checkpoint'].iloc[0]}). "
               "Attack AUROC 0.5 means the attacker does no better than a coin toss.")
    st.dataframe(latest.drop(columns=["audit"]), hide_index=True)
if not audits_table.empty:
    audits_table = audits_table.assign(label=audits_table["run"] + " (" + audits_table["dp"] + ")")
    figure = px.bar(audits_table, x="hospital", y="auroc", color="label", barmode="group",
                    title="Attack AUROC per hospital, latest audit of each run", labels={"auroc": "attack AUROC"})
    figure.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
    st.plotly_chart(figure)

# ---------------------------------------------------------------- payload
st.header("What left each hospital")
sent = privacy_report.bytes_frame(snapshot)
if sent.empty:
    st.info("No round has completed yet.")
else:
    st.metric("Total sent by all hospitals", f"{sent['bytes_sent'].sum() / 1e6:.2f} MB")
    st.plotly_chart(px.bar(sent, x="round", y="bytes_sent", color="hospital", barmode="group",
                           labels={"bytes_sent": "bytes sent"}, title="Bytes each hospital sent, per round"))
    arrays = privacy_report.payload_frame(snapshot)
    with st.expander(f"The {len(arrays)} arrays of one message: model weights only"):
        st.caption("Besides these arrays a hospital sends its number of training images and a few scalar "
                   "figures; the engine refuses any message whose arrays are not the model's weights.")
        st.dataframe(arrays, hide_index=True)
