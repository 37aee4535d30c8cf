"""Overview: the federation at a glance, what crosses the hospital boundary, and the global model's
scores."""

import math

import streamlit as st

from dashboard import charts, data
from dashboard.diagram import boundary_svg
from dashboard.first_open import offer_default_run
from dashboard.glossary import GLOSSARY
from fedcore.config.run_config import RunConfig
from fedcore.results import decision
from fedcore.results.decision import DECIDED
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

done = [r for r in data.runs() if r["rounds_done"] and r.get("data_summary")]
if done:
    run = data.pick_run(done, key="overview_run", label="Run shown on every page")
else:
    run = None
    offer_default_run(
        "The global model's accuracy, AUROC, sensitivity, specificity and loss appear here, beside "
        "the original design's published figures, as soon as a run completes its first round.",
        key="first_open_overview",
    )
if run is not None:
    summary = run["data_summary"]
    c = run["config"]
    source = f"{data.run_title(run)}: {summary.get('source', 'its data')}, " + (
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
if run is not None:
    rounds = data.snapshot(run)["rounds"]
    fits = list(hospitals_only(rounds[-1]["fit"]).values()) if rounds else []
    bytes_each = fits[0]["bytes_sent"] if fits else None
train_counts = {h: sum(s["train"].values()) for h, s in summary["hospitals"].items()}
strategy = run["config"].get("strategy", "fedavg") if run is not None else RunConfig().strategy
st.markdown(boundary_svg(train_counts, bytes_each, strategy), unsafe_allow_html=True)

if run is None:
    st.stop()
st.subheader("Global model", divider="gray")

data.warn_if_unhealthy(run)
snap = data.snapshot(run)
shown_round, last_round = decision.model_round(run), run["rounds_done"]
chosen, shown = decision.global_figures(snap, shown_round)
config = RunConfig.from_dict(run["config"])
status, color, icon = data.shown_status(run)
st.markdown(
    f"**{data.run_title(run)}** · model **{config.backbone} at {config.input_size} px** · "
    f":{color}-badge[{icon} {status}] · round {shown_round} of {run['rounds_total']} "
    f"(the run's model: its best round by global AUROC; {last_round} completed)"
    + ("" if run["mode"] != "local" else " · mean of the hospitals' local models")
)
cards = st.columns(5)
for col, metric, label in zip(
    cards,
    ("accuracy", "auroc", "sensitivity", "specificity", "loss"),
    ("Accuracy", "AUROC", "Sensitivity", "Specificity", "Loss"),
):
    published = PUBLISHED_GLOBAL.get(metric)
    decided = metric in DECIDED
    value = shown.get(metric, math.nan)
    delta = (
        None if published is None or math.isnan(value) else f"{value - published:+.3f} vs published"
    )
    col.metric(
        label + (f" · {chosen.short}" if decided else ""),
        "n/a" if math.isnan(value) else f"{value:.3f}",
        delta,
        delta_color="inverse" if metric == "loss" else "normal",
        border=True,
        help=GLOSSARY.get(metric, "")
        + (f" Original design, published: {published}." if published is not None else ""),
    )
at_fixed = decision.global_figures(snap, shown_round, fixed=True)[1]
st.caption(
    f"The global model on the global test set, round {shown_round}. Accuracy, sensitivity and "
    f"specificity {chosen.words}"
    + (
        " (the threshold the server chose from the hospitals' validation counts; only counts "
        f"leave a hospital). At {chosen.fixed:g}: "
        f"accuracy {at_fixed.get('accuracy', math.nan):.3f}, "
        f"sensitivity {at_fixed.get('sensitivity', math.nan):.3f}, "
        f"specificity {at_fixed.get('specificity', math.nan):.3f}."
        if chosen.operating_point
        else "."
    )
    + f" Original design, published on its own 624-image test set: accuracy "
    f"{PUBLISHED_GLOBAL['accuracy']}, loss {PUBLISHED_GLOBAL['loss']}."
)
