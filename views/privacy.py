"""Privacy: the budget each hospital spent, the run beside its no-DP twin, the price of privacy
over several budgets, the membership audit, what left each hospital.

Layout only: figures come from the run store through fedcore.privacy.tables and
dashboard.privacy_actions; training and the audit run in child processes, and this page
imports no TensorFlow.
"""

from __future__ import annotations

import math
import time

import streamlit as st

from dashboard import charts, data, price_of_privacy
from dashboard import privacy_actions as privacy_view
from dashboard.first_open import offer_default_run
from dashboard.privacy_help import HELP
from dashboard.theme import scope_label
from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.privacy import tables as privacy_report
from fedcore.run import launch
from fedcore.run.serving import public_text

EXPLAIN = {
    "epsilon": "**Epsilon** bounds how much any one protected record (a training image, or a whole "
    "hospital) can "
    "change what leaves the hospital: the smaller, the less anyone can tell whether it was used. "
    "Below about 1 is strong, 8 is a common practical choice.",
    "delta": "**Delta** is the small chance that the epsilon bound does not hold at all; it is "
    "kept far below "
    "one over the number of images at the smallest hospital.",
    "clip": "**The clipping norm C** caps how far one image (patient-level) or one hospital's "
    "update "
    "(hospital-level) can move the model, so that noise of a known size can hide it.",
}


@st.dialog("How FedXray protects privacy", width="large")
def show_help() -> None:
    st.markdown(HELP)


st.title("Privacy")
intro, doc = st.columns([3, 1], vertical_alignment="center")
intro.caption(
    "What left each hospital, the differential-privacy budget it spent, the cost in accuracy "
    "against "
    "the same run without privacy, and what a membership-inference attacker can still tell."
)
if doc.button(
    "How privacy works here", icon=":material/menu_book:", key="privacy_doc", type="tertiary"
):
    show_help()

runs = data.runs()
done = [r for r in runs if r["rounds_done"]]
if not done:
    offer_default_run(
        "Once a run has completed a round, this page shows what left each hospital (model weights "
        "only, never images), the privacy budget a DP run spent, that run beside the same run "
        "without "
        "DP, and a membership-inference audit you can start with one click.",
        key="privacy_first_run",
    )
    st.stop()

run = data.pick_run(done, key="privacy_run")
data.warn_if_unhealthy(run)
snapshot = data.snapshot(run)
dp = privacy_report.settings(snapshot)
has_dp = run["config"].get("dp", "off") != "off"
hospitals = list(run["data_summary"]["hospitals"]) if run.get("data_summary") else []
names = {h: scope_label(h) for h in hospitals}

# ---------------------------------------------------------------- budget
st.subheader("Privacy budget", divider="gray")
if not has_dp:
    st.info(
        "This run trained **without differential privacy**: no epsilon or delta apply. Its "
        "hospitals still "
        "sent only model weights (below), but weights can reveal who was trained on: the audit "
        "measures how "
        "much.",
        icon=":material/lock_open:",
    )
else:
    epsilon = privacy_report.epsilon_frame(snapshot)
    final = privacy_report.final_epsilon(snapshot)
    st.markdown(
        f"This run trained with **{dp['mode']}**"
        + (f", target epsilon {dp['target_epsilon']:g}" if dp["target_epsilon"] else "")
        + "."
    )
    cols = st.columns(3)
    cols[0].metric(
        "Epsilon, largest hospital",
        "–" if math.isnan(final) else f"{final:.2f}",
        border=True,
        help=EXPLAIN["epsilon"],
    )
    cols[1].metric("Delta", f"{dp['delta']:g}", border=True, help=EXPLAIN["delta"])
    cols[2].metric("Clipping norm C", f"{dp['clip_norm']:g}", border=True, help=EXPLAIN["clip"])
    st.markdown("\n".join(f"- {EXPLAIN[k]}" for k in ("epsilon", "delta", "clip")))
    if not epsilon.empty:
        st.plotly_chart(
            charts.epsilon_by_round(epsilon, dp["target_epsilon"]),
            key="epsilon",
            config=charts.PLOT_CONFIG,
        )
    if dp["hospitals"]:
        per_hospital = privacy_view.noise_table(dp, names)
        st.caption(
            "Each hospital's noise multiplier (sigma) and sampling rate q = batch / images: with a "
            "target "
            "epsilon each hospital solves its own sigma, so a small hospital gets more noise."
        )
        st.dataframe(
            per_hospital,
            column_config={
                "sampling rate q": st.column_config.NumberColumn(format="%.4f"),
                "noise multiplier (sigma)": st.column_config.NumberColumn(format="%.3f"),
            },
        )

# ---------------------------------------------------------------- twin
st.subheader("With and without differential privacy", divider="gray")
twin = privacy_view.find_twin(run, runs)
if twin is None and has_dp:
    st.markdown(
        "The cost of privacy shows against the **same run without it**: same data split, model, "
        "rounds and "
        "seed, DP off (and the default optimizer's learning rate and batch size, which "
        "patient-level DP sets "
        "for DP-SGD)."
    )
    if st.button(
        "Train the no-DP twin", key="privacy_twin", type="primary", icon=":material/compare_arrows:"
    ):
        try:
            started = launch.start(
                RunConfig.from_dict(privacy_view.twin_config(run["config"])), data.store()
            )
        except FedXrayError as exc:
            st.error(f"Not started: {public_text(str(exc))}", icon=":material/block:")
        else:
            st.success(
                f"Started run {started}, the no-DP twin: it appears here as it trains.",
                icon=":material/check_circle:",
            )
            st.page_link(
                "views/train.py",
                label="Watch it on the Train page",
                icon=":material/model_training:",
            )
elif twin is None and run["config"]["backbone"] != "cnn":
    st.caption(
        "Patient-level privacy trains the small CNN only (the ImageNet backbones' batch "
        "normalisation mixes the patients of a batch): train a CNN run to compare."
    )
elif twin is None:
    dp_twin = privacy_view.dp_twin_config(run["config"])
    st.markdown(
        "What does privacy cost this run? Train the **same run with patient-level differential "
        f"privacy at ε {dp_twin['dp_target_epsilon']:g}** (same data split, model, rounds and "
        "seed; the privacy defaults for batch size and learning rate) and compare them here."
    )
    if st.button(
        "Train this run with privacy",
        key="privacy_dp_twin",
        type="primary",
        icon=":material/shield_lock:",
    ):
        try:
            started = launch.start(RunConfig.from_dict(dp_twin), data.store())
        except FedXrayError as exc:
            st.error(f"Not started: {public_text(str(exc))}", icon=":material/block:")
        else:
            st.success(
                f"Started run {started}, this run with privacy: it appears here as it trains.",
                icon=":material/check_circle:",
            )
else:
    rows, curves = privacy_view.side_by_side([run, twin])
    if rows.empty:
        st.info(
            f"The twin, run {twin['id']}, has not completed a round yet.",
            icon=":material/hourglass_top:",
        )
    else:
        st.dataframe(rows, hide_index=True)
        st.caption(
            "Accuracy, sensitivity and specificity at the threshold each run's server chose from "
            "its "
            "hospitals' validation counts (the federated operating point). A DP model's "
            "probabilities sit "
            "close to 0.5: at the fixed threshold it may call every image one class while it still "
            "ranks "
            "them well (its AUROC)."
        )
        st.plotly_chart(charts.twin_curves(curves), key="twin", config=charts.PLOT_CONFIG)

# ---------------------------------------------------------------- price of privacy
st.subheader("The price of privacy", divider="gray")
price_of_privacy.show(run, snapshot)

# ---------------------------------------------------------------- audit
st.subheader("Membership-inference audit", divider="gray")
st.caption(
    "A loss-threshold attack per hospital: can an attacker holding the model tell the hospital's "
    "training "
    "images from its held-out ones? Attack AUROC 0.5 is a coin toss; 1.0 would expose every member."
)
store = data.store()


@st.fragment(run_every=1.0)
def audit_progress(run_id: str) -> None:
    """The running audit's progress; when it ends, rerun the page so the new result shows."""
    job = privacy_view.audit_job(store, run_id)
    if job is None:
        return
    code = job.child.poll()
    if code is None:
        elapsed = time.time() - job.started
        st.progress(
            min(0.95, elapsed / privacy_view.AUDIT_SECONDS),
            text=f"Auditing… {elapsed:.0f} s (loading the model, scoring each hospital's training "
            "and "
            "held-out images in a separate process)",
        )
        return
    if code != 0:
        st.error(f"The audit failed: {privacy_view.audit_error(job)}", icon=":material/error:")
        return
    privacy_view.forget_audit(store, run_id)
    st.rerun()


job = privacy_view.audit_job(store, run["id"])
# Started in the click's callback, before this rerun draws the button: it shows disabled at once.
st.button(
    "Run the membership audit",
    key="privacy_audit",
    icon=":material/policy:",
    disabled=job is not None and job.child.poll() is None,
    on_click=privacy_view.start_audit,
    args=(store, run["id"]),
    help="Runs `python -m fedcore audit RUN` in a child process on the run's last "
    "checkpoint; about half a minute",
)
if privacy_view.audit_job(store, run["id"]) is not None:
    audit_progress(run["id"])

audits = {}
latest = privacy_view.latest_audit(snapshot)
if not latest.empty:
    audits[privacy_view.run_label(run)] = latest
if twin is not None:
    twin_audit = privacy_view.latest_audit(data.snapshot(twin))
    if not twin_audit.empty:
        audits[privacy_view.run_label(twin)] = twin_audit
if latest.empty:
    st.info("No audit of this run yet: the button above runs one.", icon=":material/info:")
else:
    st.caption(
        f"Latest audit of this run: round {int(latest['round'].iloc[0])}, "
        f"{latest['checkpoint'].iloc[0]} "
        "checkpoint" + ("; beside it, the twin's latest audit" if len(audits) > 1 else "") + "."
    )
if audits:
    st.markdown(
        privacy_view.audit_verdict(float(latest["auroc"].max())) if not latest.empty else ""
    )
    st.plotly_chart(charts.audit_bars(audits), key="audit", config=charts.PLOT_CONFIG)

# ---------------------------------------------------------------- payload
st.subheader("What left each hospital", divider="gray")
sent = privacy_report.bytes_frame(snapshot)
if sent.empty:
    st.info("No round has completed yet.", icon=":material/info:")
else:
    totals = sent.groupby("hospital")["bytes_sent"].sum().to_dict()
    st.markdown(
        f"Over **{run['rounds_done']} rounds** the hospitals sent "
        f"**{sum(totals.values()) / 1e6:.2f} MB** "
        "of model weights in all, with a count of training images; after each round, the shared "
        "model's "
        "metrics and confusion counts on its own validation and test images at about 350 "
        "thresholds "
        "(the server picks the operating point from them). **Never an image, a label or a score.**"
    )
    st.plotly_chart(
        charts.bytes_by_hospital(totals, run["rounds_done"]), key="bytes", config=charts.PLOT_CONFIG
    )
    arrays = privacy_report.payload_frame(snapshot)
    with st.expander("Per round: what each hospital sent"):
        st.dataframe(privacy_view.sent_per_round(snapshot, names), hide_index=True)
    if not arrays.empty:
        with st.expander(
            f"The {len(arrays)} arrays of one message: the model's weights, nothing else"
        ):
            st.caption(
                "The engine refuses any message whose arrays are not the model's weights or whose "
                "other "
                "figures are not plain numbers."
            )
            st.dataframe(arrays, hide_index=True)
