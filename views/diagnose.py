"""Diagnose: one chest X-ray through a model, shown as uploaded, as the model sees it, and with
Grad-CAM on it."""

import math

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard import diagnose_models as diagnose_view
from dashboard.first_open import offer_default_run
from dashboard.overlay import cam_on_radiograph, enlarge, outline_crop
from dashboard.theme import CLASS_COLORS, METRIC_LABELS
from fedcore.data import CLASSES, SAMPLES_DIR
from fedcore.diagnosis.lookalike import check_upload
from fedcore.errors import FedXrayError

MAX_UPLOAD_MB = 25

st.title("Diagnose a chest X-ray")
banner = st.empty()
with st.spinner("Loading TensorFlow (first visit only)…"):
    diagnosis = data.diagnosis_engine()
banner.warning(diagnosis.DISCLAIMER, icon=":material/warning:")

done = [r for r in data.runs() if r["rounds_done"]]
run = None
if done:
    a, b, c = st.columns([3, 1, 1])
    with a:
        run = data.pick_run(done, key="diagnose_run", label="Model from run")
    checkpoint = b.segmented_control(
        "Checkpoint",
        ("best", "last"),
        default="best",
        required=True,
        key="diagnose_ckpt",
        help="best: the round with the highest global AUROC",
    )
    model_name = None
    if run["mode"] == "local":
        model_name = c.selectbox(
            "Hospital's model", list(run["data_summary"]["hospitals"]), key="diagnose_model"
        )
    try:
        loaded = data.run_model(run, checkpoint, model_name)
    except FedXrayError as exc:
        st.error(f"Cannot load this run's model: {exc}", icon=":material/error:")
        st.stop()
else:
    try:
        loaded = diagnose_view.shipped_model()
    except FedXrayError as exc:
        offer_default_run(
            f"Once a run has completed a round, this page diagnoses a chest X-ray with its model "
            f"and shows where the model looked. ({exc})",
            key="diagnose_first_run",
        )
        st.stop()
    p = loaded.provenance
    offer_default_run(
        "No run of yours has completed a round yet, so this page uses the model shipped with "
        "FedXray: the "
        f"default federation (`{p['command']}`, seed {p['seed']}), {p['checkpoint']} round "
        f"{p['round']} of "
        f"{p['rounds_total']}, global test AUROC {p['global_test']['auroc']:.3f}, made {p['date']} "
        "from commit "
        f"`{p['git_commit'][:10]}`. Train a federation and your own model replaces it.",
        key="diagnose_first_run",
    )

# Calls at the federated operating point when the checkpoint's round has one (the server chose it
# from the hospitals' validation counts); the run's fixed threshold stays beside it.
op = loaded.test_metrics.get("op_threshold")
threshold = op if op is not None and not math.isnan(op) else loaded.config.threshold
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
    f"This model calls **{right} of the {len(scores)}** sample radiographs right. Their twins were "
    "removed "
    "from the embedded training data, so the model never saw them."
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
    slot.error(f"Cannot diagnose this file: {exc}", icon=":material/broken_image:")
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
    as_uploaded, on_xray, view, verdict = st.columns([1.15, 1, 1, 1.25])
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
        st.markdown(
            f"P(pneumonia) = **{result.probability:.3f}** against the threshold **{threshold:.3f}**"
            + (" (the federated operating point)" if threshold != result.threshold else "")
            + (f" · true label: **{truth}**" if truth else "")
        )
        if threshold != result.threshold:
            st.caption(f"At the fixed threshold {result.threshold:g}: **{result.label}**.")
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
    test = loaded.test_metrics
    for col, metric in zip(
        st.columns(5), ("accuracy", "auroc", "sensitivity", "specificity", "f1")
    ):
        value = test.get(metric, math.nan)
        col.metric(
            f"{METRIC_LABELS[metric]} (global test)",
            "n/a" if value is None or math.isnan(value) else f"{value:.3f}",
            border=True,
        )
    st.caption(
        f"On the global test set ({test.get('n', '?')} images) in round {loaded.server_round}, at "
        "the fixed "
        f"threshold {loaded.config.threshold:g}"
        + (
            f"; at the federated operating point ({threshold:.3f}): accuracy "
            f"{test['op_accuracy']:.3f}, "
            f"sensitivity {test['op_sensitivity']:.3f}, specificity {test['op_specificity']:.3f}."
            if threshold != loaded.config.threshold
            else "."
        )
    )
    with st.expander(f"The 16 sample radiographs: {right} right"):
        st.dataframe(
            pd.DataFrame(scores),
            hide_index=True,
            column_config={"P(pneumonia)": st.column_config.NumberColumn(format="%.3f")},
        )
