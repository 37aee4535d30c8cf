"""Diagnose: one chest X-ray through a model, shown as uploaded, as the model sees it, and with
Grad-CAM on it."""

import math

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard import diagnose_models as diagnose_view
from dashboard.first_open import offer_default_run
from dashboard.glossary import GLOSSARY
from dashboard.overlay import cam_on_radiograph, enlarge, outline_crop
from dashboard.theme import CLASS_COLORS, METRIC_LABELS
from fedcore.data import CLASSES, SAMPLES_DIR
from fedcore.diagnosis.calibrated import calibrated_probability
from fedcore.diagnosis.lookalike import check_upload
from fedcore.errors import FedXrayError
from fedcore.results import decision
from fedcore.run.serving import public_text

MAX_UPLOAD_MB = 25
SHIPPED_LABEL = "The model shipped with FedXray (default federation, seed 42)"

st.title("Diagnose a chest X‑ray")  # a non-breaking hyphen: never "X-" / "ray" on a phone
banner = st.empty()
with st.spinner("Loading TensorFlow (first visit only)…"):
    diagnosis = data.diagnosis_engine()
banner.warning(diagnosis.DISCLAIMER, icon=":material/warning:")

done = [r for r in data.runs() if r["rounds_done"]]
run = None
if done:
    a, b, c = st.columns([3, 1, 1])
    with a:
        run = data.pick_run(
            done, key="diagnose_run", label="Model from run", none_label=SHIPPED_LABEL
        )
if run is not None:
    data.warn_if_unhealthy(run)
    checkpoint = b.segmented_control(
        "Checkpoint",
        ("best", "last"),
        default="best",
        required=True,
        key="diagnose_ckpt",
        format_func={"best": "the run's model", "last": "last round"}.get,
        help="The run's model is its best round by global AUROC, the one every page shows.",
    )
    model_name = None
    if run["mode"] == "local":
        model_name = c.selectbox(
            "Hospital's model", list(run["data_summary"]["hospitals"]), key="diagnose_model"
        )
    try:
        loaded = data.run_model(run, checkpoint, model_name)
    except FedXrayError as exc:
        st.error(f"Cannot load this run's model: {public_text(str(exc))}", icon=":material/error:")
        st.stop()
if run is None:
    try:
        loaded = diagnose_view.shipped_model()
    except FedXrayError as exc:
        offer_default_run(
            f"Once a run has completed a round, this page diagnoses a chest X-ray with its model "
            f"and shows where the model looked. ({public_text(str(exc))})",
            key="diagnose_first_run",
        )
        st.stop()
    p = loaded.provenance
    shipped = (
        f"the default federation (`{p['command']}`, seed {p['seed']}), {p['checkpoint']} round "
        f"{p['round']} of {p['rounds_total']}, global test AUROC "
        f"{p['global_test']['auroc']:.3f}, made {p['date']} from commit `{p['git_commit'][:10]}`"
    )
    if done:
        st.info(
            f"The model shipped with FedXray: {shipped}. None of your runs has finished with a "
            "model that learned; pick one above to use it anyway.",
            icon=":material/info:",
        )
    else:
        offer_default_run(
            "No run of yours has completed a round yet, so this page uses the model shipped "
            f"with FedXray: {shipped}. Train a federation and your own model replaces it.",
            key="diagnose_first_run",
        )

# The run's decision threshold for the checkpoint's round, as every page reads it; the shipped
# model carries its round's operating point in its metrics.
if run is not None:
    chosen = decision.decision(data.snapshot(run), loaded.server_round)
else:
    op = loaded.test_metrics.get("op_threshold")
    fixed = loaded.config.threshold
    chosen = (
        decision.Decision(op, True, fixed)
        if op is not None and not math.isnan(op)
        else decision.Decision(fixed, False, fixed)
    )
threshold = chosen.threshold
scores = diagnose_view.sample_scores(loaded, threshold)
right = sum(s["correct"] for s in scores)

source = st.segmented_control(
    "Image",
    ("Sample radiographs", "Upload"),
    default="Sample radiographs",
    required=True,
    key="diagnose_source",
)
if source == "Upload":
    upload = st.file_uploader(
        f"PNG, JPEG or DICOM chest X-ray, up to {MAX_UPLOAD_MB} MB",
        type=["png", "jpg", "jpeg", "dcm", "dicom"],
        max_upload_size=MAX_UPLOAD_MB,
        key="diagnose_upload",
    )
    if upload is None:
        st.stop()
    name, payload, truth = upload.name, upload.getvalue(), None
else:
    samples = sorted(SAMPLES_DIR.glob("*/*.jpeg"))
    path = st.selectbox(
        "One of 16 real radiographs (Kermany et al., CC BY 4.0), held out of the training data",
        samples,
        key="diagnose_sample",
        format_func=lambda p: f"{p.parent.name} · {p.name}",
    )
    name, payload, truth = path.name, path.read_bytes(), path.parent.name
st.caption(
    f"This model calls **{right} of the {len(scores)}** sample radiographs right {chosen.short}. "
    "Their twins were removed from the embedded training data, so the model never saw them."
)

# Everything that depends on the choice lives in one slot, emptied before the work
# starts: the previous image's result never lingers, faded, while the new one is scored.
slot = st.empty()
slot.info(f"Scoring {name}…", icon=":material/hourglass_top:")
try:
    result = diagnosis.diagnose(loaded, payload, name)
    original = diagnosis.radiograph_for_display(payload, name=name)
    check = check_upload(payload, result.image)
except FedXrayError as exc:
    slot.error(
        f"Cannot diagnose this file: {public_text(str(exc))}", icon=":material/broken_image:"
    )
    st.stop()

size = loaded.config.input_size
with slot.container():
    if not check.looks_like_xray:
        st.warning(
            "**This does not look like a chest X-ray.** The model scored it anyway, but it learnt "
            "only "
            "from frontal chest radiographs, so the score below means little.\n\n"
            + "\n".join(f"- {w}" for w in check.warnings),
            icon=":material/report:",
        )
    # The verdict first: on a narrow screen the columns stack, and the answer comes before the
    # images.
    verdict, as_uploaded, on_xray, view = st.columns([1.25, 1.15, 1, 1])
    as_uploaded.image(
        outline_crop(original),
        width="stretch",
        caption=f"As uploaded, {check.width}×{check.height} px; the outlined square is what the "
        "model sees"
        if check.width != check.height
        else f"As uploaded, {check.width}×{check.height} px",
    )
    on_xray.image(
        cam_on_radiograph(original, result.heatmap),
        width="stretch",
        caption="Grad-CAM on the radiograph: where the evidence for pneumonia is (warm = more)",
    )
    view.image(
        enlarge(result.image),
        width="stretch",
        caption=f"The model's view: {size}×{size} px grayscale",
    )
    with verdict:
        label = CLASSES[int(result.probability >= threshold)]
        st.markdown(
            f"<div style='font-size:2.1rem;font-weight:700;color:{CLASS_COLORS[label]}'>"
            f"{label}</div>",
            unsafe_allow_html=True,
        )
        calibrated = calibrated_probability(result.probability, loaded.test_metrics)
        if calibrated is not None:
            st.markdown(
                f"Calibrated P(pneumonia) **{calibrated:.2f}** (of 100 X-rays scored like this, "
                f"about {round(calibrated * 100)} had pneumonia in the test hospitals)"
            )
            st.caption(
                "This model's calibration error (ECE, 15 bins) on the global test set: "
                f"{loaded.test_metrics.get('ece_calibrated', math.nan):.3f} after the federated "
                f"map, {loaded.test_metrics.get('ece', math.nan):.3f} before it. The call is made "
                f"{chosen.words} on the uncalibrated score."
            )
        with st.expander("Uncalibrated score") if calibrated is not None else st.container():
            st.markdown(
                f"P(pneumonia) = **{result.probability:.3f}**, called {chosen.words}"
                + (f" · true label: **{truth}**" if truth else ""),
                help=GLOSSARY["threshold"],
            )
        if chosen.operating_point:
            st.caption(f"At the fixed threshold {chosen.fixed:g}: **{result.label}**.")
        st.plotly_chart(
            charts.probability_gauge(result.probability, threshold),
            key="gauge",
            config=charts.PLOT_CONFIG,
        )

    st.subheader("The model behind this call", divider="gray")
    cfg = loaded.config
    if run is None:
        st.markdown(
            f"The **shipped** model: `{loaded.provenance['command']}` (made by "
            f"`{loaded.provenance['made_by']}`) · **{loaded.checkpoint}** checkpoint = round "
            f"**{loaded.server_round}** of {loaded.provenance['rounds_total']} · {cfg.backbone} at "
            f"{size} px"
        )
    else:
        st.markdown(
            f"Run `{loaded.run_id}` ({run['mode']}) · **{loaded.checkpoint}** checkpoint = round "
            f"**{loaded.server_round}** of {run['rounds_total']} · {cfg.backbone} at {size} px · "
            "model "
            f"`{loaded.model_name}`"
        )
    test = decision.at_decision(loaded.test_metrics, chosen)
    for col, metric in zip(
        st.columns(5), ("accuracy", "auroc", "sensitivity", "specificity", "f1")
    ):
        value = test.get(metric, math.nan)
        col.metric(
            METRIC_LABELS[metric] + (f" · {chosen.short}" if metric in decision.DECIDED else ""),
            "n/a" if value is None or math.isnan(value) else f"{value:.3f}",
            border=True,
            help=GLOSSARY.get(metric),
        )
    fixed_test = loaded.test_metrics
    st.caption(
        f"On the global test set ({test.get('n', '?')} images) in round {loaded.server_round}, "
        f"{chosen.words}"
        + (
            f"; at the fixed threshold {chosen.fixed:g}: accuracy "
            f"{fixed_test.get('accuracy', math.nan):.3f}, sensitivity "
            f"{fixed_test.get('sensitivity', math.nan):.3f}, specificity "
            f"{fixed_test.get('specificity', math.nan):.3f}."
            if chosen.operating_point
            else "."
        )
    )
    with st.expander(f"The 16 sample radiographs: {right} right"):
        st.dataframe(
            pd.DataFrame(scores),
            hide_index=True,
            column_config={"P(pneumonia)": st.column_config.NumberColumn(format="%.3f")},
        )
