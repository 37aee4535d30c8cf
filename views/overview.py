"""Overview: the federation at a glance, what crosses the hospital boundary, and the global model's
scores."""

import math

import streamlit as st

from dashboard import charts, data
from dashboard.diagram import boundary_svg
from dashboard.first_open import offer_default_run
from dashboard.theme import STATUS_COLORS
from fedcore.config.run_config import RunConfig
from fedcore.results.report import PUBLISHED_GLOBAL
from fedcore.server.fit_facts import hospitals_only

st.title("FedXray")
st.markdown(
    "**Federated pneumonia detection on chest X-rays.** Hospitals train one shared model together: "
    "each trains on its own radiographs and sends back only model weights and counts (how many "
    "images it "
    "trained on, how many the shared model called right and wrong). "
    "The X-rays never leave the hospital."
)

runs = data.runs()
latest = next((r for r in runs if r["rounds_done"] and r.get("data_summary")), None)
if latest is not None:
    summary = latest["data_summary"]
    c = latest["config"]
    source = f"run `{latest['id']}`: {summary['source']}, " + (
        f"{c['partition']} split (α = {c['alpha']})"
        if c["data"] == "embedded"
        else "hospital folders"
    )
else:
    summary = data.default_federation()
    source = (
        "the default federation: embedded PneumoniaMNIST, "
        "Dirichlet non-IID split (α = 0.5), 3 hospitals"
    )

st.subheader("The federation", divider="gray")
st.markdown(
    "**Non-IID**: the hospitals' patients are not alike, as in real life: one sees mostly "
    "pneumonia, "
    "another mostly healthy lungs, and they differ in size. The split draws each class's share per "
    "hospital "
    "at random (a Dirichlet draw; the smaller its α, the more unequal the hospitals), and one "
    "shared model "
    "must still work for all of them."
)
st.caption(
    f"From {source}. Left: each hospital's training images by class. Right: the share of pneumonia "
    "in "
    "each hospital's training images against the global test set's."
)
left, right = st.columns([3, 2])
left.plotly_chart(charts.class_balance(summary), key="balance", config=charts.PLOT_CONFIG)
right.plotly_chart(charts.pneumonia_share(summary), key="share", config=charts.PLOT_CONFIG)

st.subheader("What crosses the hospital boundary", divider="gray")
bytes_each = None
if latest is not None:
    rounds = data.snapshot(latest)["rounds"]
    fits = list(hospitals_only(rounds[-1]["fit"]).values()) if rounds else []
    bytes_each = fits[0]["bytes_sent"] if fits else None
train_counts = {h: sum(s["train"].values()) for h, s in summary["hospitals"].items()}
strategy = (
    latest["config"].get("strategy", "fedavg") if latest is not None else RunConfig().strategy
)
st.markdown(boundary_svg(train_counts, bytes_each, strategy), unsafe_allow_html=True)

st.subheader("Global model", divider="gray")
if latest is None:
    offer_default_run(
        "The global model's accuracy, AUROC, sensitivity, specificity and loss appear here, beside "
        "the original design's published figures, as soon as a run completes its first round.",
        key="first_open_overview",
    )
    st.stop()

frame = data.frame(latest)
scope = "global" if (frame["scope"] == "global").any() else None
rows = frame[frame["scope"] == scope] if scope else frame[frame["scope"].str.startswith("global:")]
by_round = rows.groupby("round").mean(numeric_only=True)
last_round, best_round = latest["rounds_done"], latest["best_round"] or latest["rounds_done"]
last, best = by_round.loc[last_round], by_round.loc[best_round]

op, decided = data.decision_figures(last)
at_op = not math.isnan(op)  # a run recorded before the federated operating point has none
config = RunConfig.from_dict(latest["config"])
st.markdown(
    f"Run `{latest['id']}` · {latest['mode']} · model **{config.backbone} at {config.input_size} "
    "px** · "
    f":{STATUS_COLORS[latest['status']]}-badge[{latest['status']}] · latest round {last_round} of "
    f"{latest['rounds_total']}, best round {best_round} (by global AUROC)"
    + ("" if scope else " · mean of the hospitals' local models")
    + (f" · {dp}" if (dp := data.privacy_label(latest["config"])) else "")
)
cards = st.columns(5)
for col, metric, label in zip(
    cards,
    ("accuracy", "auroc", "sensitivity", "specificity", "loss"),
    ("Accuracy", "AUROC", "Sensitivity", "Specificity", "Loss"),
):
    published = PUBLISHED_GLOBAL.get(metric)
    # Decisions (accuracy, sensitivity, specificity) at the federated operating point when the run
    # has one.
    chosen = at_op and metric in decided
    value = decided.get(metric, last[metric])
    delta = (
        None if published is None or math.isnan(value) else f"{value - published:+.3f} vs published"
    )
    col.metric(
        f"{label} · latest" + (f" · t = {op:.2f}" if chosen else ""),
        "n/a" if math.isnan(value) else f"{value:.3f}",
        delta,
        delta_color="inverse" if metric == "loss" else "normal",
        border=True,
        help=(
            f"At the federated operating point, threshold {op:.3f}; at threshold "
            f"{latest['config']['threshold']:g}: {last[metric]:.3f}. "
            if chosen
            else ""
        )
        + f"Best round {best_round}: {best[metric]:.3f}"
        + (f". Original design, published: {published}" if published is not None else ""),
    )
if at_op:
    fixed = latest["config"]["threshold"]
    st.caption(
        "Accuracy, sensitivity and specificity at the **federated operating point**: the "
        "threshold "
        f"{op:.3f} that the server chose this round from the hospitals' validation counts (only "
        "counts "
        f"leave a hospital). At the fixed threshold {fixed:g}: accuracy {last['accuracy']:.3f}, "
        f"sensitivity {last['sensitivity']:.3f}, specificity {last['specificity']:.3f}."
    )
st.caption(
    f"From the global model of run `{latest['id']}` ({config.backbone}, {config.input_size} px) on "
    "the global "
    f"test set. Original design, published on its own 624-image test set: accuracy "
    f"{PUBLISHED_GLOBAL['accuracy']}, loss {PUBLISHED_GLOBAL['loss']}. Deltas compare the latest "
    "round with "
    "those figures."
)
