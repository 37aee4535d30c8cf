"""Diagnose: one chest X-ray through a run's model, with Grad-CAM, the threshold and the model's test scores."""

import math

import streamlit as st

from dashboard import charts, data
from dashboard.overlay import enlarge, grad_cam_overlay
from dashboard.theme import CLASS_COLORS, METRIC_LABELS
from fedcore.config import DEFAULT_IMAGE_SIZE
from fedcore.data import SAMPLES_DIR
from fedcore.errors import FedXrayError

MAX_UPLOAD_MB = 25

st.title("Diagnose a chest X-ray")
banner = st.empty()
with st.spinner("Loading TensorFlow (first visit only)…"):
    diagnosis = data.diagnosis_engine()
banner.warning(diagnosis.DISCLAIMER, icon=":material/warning:")

done = [r for r in data.runs() if r["rounds_done"]]
if not done:
    st.info("No trained model yet: a run must complete at least one round.", icon=":material/info:")
    st.page_link("pages/train.py", label="Start a run on the Train page", icon=":material/model_training:")
    st.stop()

a, b, c = st.columns([3, 1, 1])
with a:
    run = data.pick_run(done, key="diagnose_run", label="Model from run")
checkpoint = b.segmented_control("Checkpoint", ("best", "last"), default="best", required=True, key="diagnose_ckpt",
                                 help="best: the round with the highest global AUROC")
model_name = None
if run["mode"] == "local":
    model_name = c.selectbox("Hospital's model", list(run["data_summary"]["hospitals"]), key="diagnose_model")

source = st.segmented_control("Image", ("Sample radiographs", "Upload"), default="Sample radiographs", required=True,
                              key="diagnose_source")
if source == "Upload":
    upload = st.file_uploader(f"PNG, JPEG or DICOM chest X-ray, up to {MAX_UPLOAD_MB} MB",
                              type=["png", "jpg", "jpeg", "dcm", "dicom"], max_upload_size=MAX_UPLOAD_MB,
                              key="diagnose_upload")
    if upload is None:
        st.stop()
    name, payload, truth = upload.name, upload.getvalue(), None
else:
    samples = sorted(SAMPLES_DIR.glob("*/*.jpeg"))
    path = st.selectbox("One of 16 real radiographs (Kermany et al., CC BY 4.0)", samples, key="diagnose_sample",
                        format_func=lambda p: f"{p.parent.name} · {p.name}")
    name, payload, truth = path.name, path.read_bytes(), path.parent.name

try:
    loaded = data.run_model(run, checkpoint, model_name)
    result = diagnosis.diagnose(loaded, payload, name)
except FedXrayError as exc:
    st.error(f"Cannot diagnose this file: {exc}", icon=":material/broken_image:")
    st.stop()

size = loaded.config.input_size
picture, heat, verdict = st.columns([1, 1, 1.2])
picture.image(enlarge(result.image), caption=f"As the model sees it: {size}×{size} px grayscale", width="stretch")
heat.image(grad_cam_overlay(result.image, result.heatmap), width="stretch",
           caption="Grad-CAM: where the evidence for pneumonia is (warm = more)")
with verdict:
    color = CLASS_COLORS[result.label]
    st.markdown(f"<div style='font-size:2.1rem;font-weight:700;color:{color}'>{result.label}</div>",
                unsafe_allow_html=True)
    st.markdown(f"P(pneumonia) = **{result.probability:.3f}** against the threshold **{result.threshold:.2f}**"
                + (f" · true label: **{truth}**" if truth else ""))
    st.plotly_chart(charts.probability_gauge(result.probability, result.threshold), key="gauge", config=charts.PLOT_CONFIG)

st.subheader("The model behind this call", divider="gray")
cfg = loaded.config
st.markdown(f"Run `{loaded.run_id}` ({run['mode']}) · **{loaded.checkpoint}** checkpoint = round "
            f"**{loaded.server_round}** of {run['rounds_total']} · {cfg.backbone} at "
            f"{cfg.image_size or DEFAULT_IMAGE_SIZE[cfg.backbone]} px · model `{loaded.model_name}`")
test = loaded.test_metrics
for col, metric in zip(st.columns(5), ("accuracy", "auroc", "sensitivity", "specificity", "f1")):
    value = test.get(metric, math.nan)
    col.metric(f"{METRIC_LABELS[metric]} (global test)",
               "n/a" if value is None or math.isnan(value) else f"{value:.3f}", border=True)
st.caption(f"On the global test set ({test.get('n', '?')} images) in round {loaded.server_round}.")
