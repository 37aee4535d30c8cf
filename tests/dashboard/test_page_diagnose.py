"""The Diagnose page: the shipped model on first open, warnings for uploads unlike a chest X-ray,
the 16 samples' score."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from fedcore.data import SAMPLES_DIR
from fedcore.diagnosis.score import SHIPPED_MODEL

PAGE = Path(__file__).resolve().parents[2] / "views" / "diagnose.py"
NOT_XRAY = "does not look like a chest X-ray"


def render() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, name: str, payload: bytes) -> AppTest:
    at.segmented_control(key="diagnose_source").set_value("Upload").run()
    at.file_uploader(key="diagnose_upload").set_value((name, payload, "image/png"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def markdown(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)


def test_first_open_diagnoses_with_the_shipped_model_and_shows_its_provenance(store):
    provenance = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())
    at = render()
    info = " ".join(i.value for i in at.info)
    assert "model shipped with FedXray" in info and provenance["command"] in info
    assert f"round {provenance['round']}" in info and provenance["git_commit"][:10] in info
    assert at.button(key="diagnose_first_run").label == "Start the default federation"
    text = markdown(at)
    assert "P(pneumonia) = **" in text and "The **shipped** model" in text
    # The sample's true label is shown, and the page counts the samples the model gets right.
    assert "of the 16** sample radiographs right" in text
    assert not [w for w in at.warning if NOT_XRAY in w.value]


def test_the_shipped_model_calls_at_its_operating_point_and_gets_most_held_out_samples_right(store):
    """On first open the page calls with the shipped run's federated operating point, as for a
    user's run,
    and its count of the 16 held-out samples is the one their scores give at that threshold."""
    from fedcore.diagnosis.score import load_shipped_model, score_samples

    loaded = load_shipped_model()
    op = loaded.test_metrics["op_threshold"]
    assert 0 < op < 1 and op != loaded.config.threshold
    expected = sum((s.truth == "PNEUMONIA") == (s.probability >= op) for s in score_samples(loaded))
    at = render()
    assert f"called at the federated operating point (threshold {op:.3f})" in markdown(at)
    caption = next(c.value for c in at.caption if "sample radiographs right" in c.value)
    right = int(caption.split("**")[1].split(" of ")[0])
    assert right == expected and right > 8, caption


@pytest.mark.parametrize(
    "name, array, finding",
    [
        (
            "noise.png",
            np.random.default_rng(0).integers(0, 256, (10, 10), dtype=np.uint8),
            "only 10×10 pixels",
        ),
        (
            "noise-large.png",
            np.random.default_rng(1).integers(0, 256, (400, 400), dtype=np.uint8),
            "layout is unlike",
        ),
        ("grey.png", np.full((500, 500), 90, dtype=np.uint8), "nearly one uniform grey"),
        (
            "colour.png",
            np.stack(
                [
                    *np.meshgrid(np.arange(300) % 256, np.arange(300) % 256),
                    np.full((300, 300), 200),
                ],
                axis=-1,
            ).astype(np.uint8),
            "in colour",
        ),
    ],
)
def test_an_upload_unlike_a_chest_xray_is_scored_with_a_warning(store, name, array, finding):
    at = upload(render(), name, png(array))
    warning = " ".join(w.value for w in at.warning if NOT_XRAY in w.value)
    assert finding in warning, warning
    assert "P(pneumonia) = **" in markdown(at)  # still scored


def test_a_real_radiograph_upload_gets_no_warning(store):
    sample = next(SAMPLES_DIR.glob("PNEUMONIA/*.jpeg"))
    at = upload(render(), sample.name, sample.read_bytes())
    assert not [w for w in at.warning if NOT_XRAY in w.value]
    assert "P(pneumonia) = **" in markdown(at)


def test_a_users_run_replaces_the_shipped_model(tiny_run, monkeypatch):
    run_store, run_id = tiny_run
    monkeypatch.setenv("FEDCORE_HOME", str(run_store.home))
    at = render()
    assert at.selectbox(key="diagnose_run").value == run_id
    text = markdown(at)
    assert f"Run `{run_id}`" in text and "shipped" not in text
    assert not [i for i in at.info if "model shipped with FedXray" in i.value]
