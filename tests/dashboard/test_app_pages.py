"""Every dashboard page renders without an exception, on an empty store and on a trained run,
and bad input from the browser gets a clear message instead of a traceback."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from fedcore.data import SAMPLES_DIR
from tests.conftest import wait_for

APP = Path(__file__).resolve().parents[2] / "app.py"

PAGES = (
    "views/overview.py",
    "views/train.py",
    "views/fairness.py",
    "views/privacy.py",
    "views/diagnose.py",
    "views/runs.py",
)
TIMEOUT = 60  # the Diagnose page imports TensorFlow the first time


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page != PAGES[0]:
        at.switch_page(page)
        at.run()
    return at


def form_start(at: AppTest):
    """The run form's Start training (on a first open, 'Start the default federation' comes
    first)."""
    return next(b for b in at.button if b.label == "Start training")


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_an_empty_store(store, page):
    at = open_page(page)
    assert_clean(at)
    assert at.title, "every page has a title"


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_a_finished_run(tiny_home, page):
    at = open_page(page)
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]


def test_pages_other_than_diagnose_do_not_import_tensorflow(tiny_home):
    # A fresh interpreter: this one already holds TensorFlow from training the tiny run.
    script = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(APP)!r}, default_timeout=30)\n"
        "at.run()\n"
        f"for page in {[p for p in PAGES if 'diagnose' not in p][1:]!r}:\n"
        "    at.switch_page(page)\n"
        "    at.run()\n"
        "    assert not at.exception, (page, at.exception)\n"
        "assert 'tensorflow' not in sys.modules, 'a page imported TensorFlow'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=APP.parent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_diagnose_a_sample_gives_a_probability(tiny_home):
    at = open_page("views/diagnose.py")
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "P(pneumonia) = **0." in text or "P(pneumonia) = **1." in text
    assert any("not a medical device" in w.value for w in at.warning)


def _upload(at: AppTest, name: str, payload: bytes, mime: str) -> AppTest:
    at.segmented_control(key="diagnose_source").set_value("Upload").run()
    at.file_uploader(key="diagnose_upload").set_value((name, payload, mime))
    return at.run()


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height: what a huge radiograph looks like when
    opened."""
    out = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    ihdr = 12  # 8-byte signature, 4-byte chunk length, then b"IHDR" and the fields
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


@pytest.mark.parametrize(
    "name,payload,needle",
    [
        ("notes.png", b"these are not pixels, just text", "not a readable image"),
        (
            "truncated.jpeg",
            next(SAMPLES_DIR.glob("PNEUMONIA/*.jpeg")).read_bytes()[:2000],
            "damaged or truncated",
        ),
        ("empty.png", b"", "empty"),
        ("huge.png", _png_claiming(10_000, 9_000), "megapixels"),
        ("big.png", _png_claiming(9_000, 9_000), "megapixels"),
    ],
)
def test_bad_uploads_get_a_clear_message(tiny_home, name, payload, needle):
    at = _upload(open_page("views/diagnose.py"), name, payload, "image/png")
    assert_clean(at)
    errors = " ".join(e.value for e in at.error)
    assert needle in errors, errors


def test_a_good_upload_is_diagnosed(tiny_home):
    sample = next(SAMPLES_DIR.glob("NORMAL/*.jpeg"))
    at = _upload(open_page("views/diagnose.py"), sample.name, sample.read_bytes(), "image/jpeg")
    assert_clean(at)
    assert not at.error
    assert any("P(pneumonia)" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    "folder,needle",
    [("", "path is empty"), ("/no/such/folder", "does not exist"), ("EMPTY", "is empty")],
)
def test_bad_data_folder_is_refused_before_starting(store, tmp_path, folder, needle):
    if folder == "EMPTY":
        folder = str(tmp_path / "empty")
        (tmp_path / "empty").mkdir()
    at = open_page("views/train.py")
    at.radio(key="f_source").set_value("My folder or .npz").run()
    at.text_input(key="f_folder").set_value(folder).run()
    form_start(at).click().run()
    assert_clean(at)
    errors = " ".join(e.value for e in at.error)
    assert needle in errors, errors
    assert store.list_runs() == [], "nothing was started"
    assert at.text_input(key="f_folder").value == folder, "the form keeps what was typed"


def test_delete_a_run_from_the_runs_page(store):
    from tests.conftest import tiny_config

    run_id = store.create_run(tiny_config().to_dict(), 2, "federated")
    store.finish(run_id, "stopped")
    at = open_page("views/runs.py")
    at.selectbox(key="delete_pick").set_value(run_id).run()
    at.checkbox(key="delete_confirm").check().run()
    at.button(key="delete_go").click().run()
    assert_clean(at)
    assert store.list_runs() == []


def test_a_running_run_is_not_deleted(store):
    from tests.conftest import tiny_config

    run_id = store.create_run(
        tiny_config().to_dict(), 2, "federated"
    )  # this process: alive, so 'running'
    at = open_page("views/runs.py")
    at.selectbox(key="delete_pick").set_value(run_id).run()
    at.checkbox(key="delete_confirm").check().run()
    at.button(key="delete_go").click().run()
    assert "still training" in " ".join(e.value for e in at.error)
    assert [r["id"] for r in store.list_runs()] == [run_id]


def test_second_start_while_a_run_is_going_is_refused(store):
    from tests.conftest import tiny_config

    busy = store.create_run(
        tiny_config().to_dict(), 2, "federated"
    )  # this live process 'trains' it
    at = open_page("views/train.py")
    form_start(at).click().run()
    assert_clean(at)
    errors = " ".join(e.value for e in at.error)
    assert f"run {busy} is still training" in errors, errors
    assert [r["id"] for r in store.list_runs()] == [busy], "nothing new started, nothing lost"


def test_privacy_settings_from_the_form_reach_the_run(store):
    at = open_page("views/train.py")
    at.number_input(key="f_cap").set_value(60).run()
    at.number_input(key="f_rounds").set_value(1).run()
    at.segmented_control(key="f_dp").set_value("hospital").run()
    at.number_input(key="f_eps").set_value(4.0).run()
    form_start(at).click().run()
    assert_clean(at)
    (run,) = store.list_runs()
    try:
        assert (run["config"]["dp"], run["config"]["dp_target_epsilon"]) == ("hospital", 4.0)
    finally:
        from fedcore.run import launch

        launch.stop(store, run["id"])
        wait_for(lambda: launch.active_run(store) is None, what="the started run to stop")


def test_impossible_privacy_settings_are_refused_in_the_form(store):
    at = open_page("views/train.py")
    at.selectbox(key="f_backbone").set_value("efficientnetv2s").run()
    at.segmented_control(key="f_dp").set_value("patient").run()
    form_start(at).click().run()
    assert_clean(at)
    assert "cnn" in " ".join(e.value for e in at.error)
    assert store.list_runs() == []


@pytest.mark.parametrize("page", ["views/train.py", "views/overview.py", "views/runs.py"])
def test_first_open_starts_the_default_federation_in_one_click(store, page):
    from fedcore.config.run_config import RunConfig
    from fedcore.run import launch

    at = open_page(page)
    key = f"first_open_{Path(page).stem}"
    assert any("appear" in i.value for i in at.info), "the page says what it will show"
    at.button(key=key).click().run()
    assert_clean(at)
    (run,) = store.list_runs()
    try:
        assert run["config"] == RunConfig().to_dict(), "the default federation, nothing else"
        assert at.session_state["run_id"] == run["id"]
        assert at.title[0].value == "Train a federation", (
            "the click lands on the Train page, where the run is live"
        )
        (bar,) = at.get("progress")
        assert "Starting the training process" in bar.proto.text, (
            "the run shows at once, before TensorFlow loads"
        )
    finally:
        launch.stop(store, run["id"])
        wait_for(lambda: launch.active_run(store) is None, what="the child to stop")


def test_overview_cards_show_the_federated_operating_point_beside_the_fixed_threshold(tiny_home):
    at = open_page("views/overview.py")
    assert_clean(at)
    labels = [m.label for m in at.metric]
    assert any(label.startswith("Accuracy · at t = ") for label in labels), labels
    assert any(
        "federated operating point" in c.value and "At 0.5: accuracy" in c.value for c in at.caption
    )


def test_many_hospitals_and_attackers_on_the_train_page(store):
    """Ten hospitals, two of them attacking: the curves draw global, worst, best and the attackers,
    the legend marks the attackers."""
    from tests.conftest import tiny_config

    config = tiny_config(hospitals=10, attack="sign-flip", attackers=2)
    run_id = store.create_run(config.to_dict(), 2, "federated")
    names = [f"hospital_{k}" for k in range(1, 11)]
    store.event(
        run_id,
        "attack",
        "hospital_2, hospital_5 will send sign-flip updates",
        level="warning",
        data={"attack": "sign-flip", "attackers": ["hospital_2", "hospital_5"], "scale": 10.0},
    )
    for r in (1, 2):
        rest = {"auroc": 0.9, "loss": 0.4, "sensitivity": 0.9, "specificity": 0.8, "f1": 0.85}
        metrics = {"global": {"accuracy": 0.8, **rest}} | {
            h: {"accuracy": 0.5 + k / 50, **rest} for k, h in enumerate(names)
        }
        store.record_round(run_id, r, metrics, {}, {}, 1.0, r)
    store.finish(run_id, "finished")
    at = open_page("views/train.py")
    assert_clean(at)
    more = at.multiselect(key="curves_more")
    assert "worst (Hospital 1) and the best (Hospital 10)" in more.label
    attacked = {"Global", "Hospital 1", "Hospital 2", "Hospital 5", "Hospital 10"}
    assert drawn_lines(at) == attacked, "the attackers are drawn beside the extremes"
    assert legend(at).count("(attacker)") == 2
    more.set_value(["hospital_7"]).run()
    assert drawn_lines(at) == attacked | {"Hospital 7"}
    assert drawn_lines(at, slot="back") == attacked, (
        "the previous figures stay behind the new ones until those are drawn"
    )
    assert legend(at).count("(attacker)") == 2


def drawn_lines(at, slot: str = "front") -> set[str]:
    """The names of the lines the Train page's six curve figures draw (the same in each).

    Each curve has two stacked slots (dashboard/chart_slots.py); once the figures changed both
    hold one, cell by cell in slot order, and ``slot`` picks the one in front or behind.
    """
    from dashboard.live_run import SLOTS_KEY

    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    if len(figures) == 12:
        front = at.session_state[SLOTS_KEY]["front"]
        figures = figures[front if slot == "front" else 1 - front :: 2]
    assert len(figures) == 6
    names = [{trace["name"] for trace in figure["data"]} for figure in figures]
    assert all(n == names[0] for n in names), names
    return names[0]


def legend(at) -> str:
    return next(h.proto.body for h in at.get("html") if "●" in h.proto.body)


def test_a_refused_resume_says_why_and_keeps_the_run(store):
    """Resume runs in a callback; when it is refused (here another run started meanwhile) the view
    says why."""
    from tests.conftest import tiny_config

    rest = {
        "accuracy": 0.8,
        "auroc": 0.9,
        "loss": 0.4,
        "sensitivity": 0.9,
        "specificity": 0.8,
        "f1": 0.85,
    }
    run_id = store.create_run(tiny_config().to_dict(), 2, "federated")
    store.record_round(run_id, 1, {"global": rest, "hospital_1": rest}, {}, {}, 1.0, 1)
    store.finish(run_id, "stopped")
    at = open_page("views/train.py")
    assert_clean(at)
    other = store.create_run(
        tiny_config().to_dict(), 2, "federated"
    )  # training now, as from another tab
    at.button(key="resume").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"run {other} is still training" in t.value for t in at.toast), [
        t.value for t in at.toast
    ]
    assert (
        store.get_run(run_id)["status"] == "stopped" and store.get_run(run_id)["rounds_done"] == 1
    )
    store.finish(other, "stopped")
