"""The Train page's form (dashboard.run_form) and the estimate arithmetic it uses."""

from __future__ import annotations

import pytest

from dashboard import estimate, run_form
from fedcore.config.run_config import RunConfig
from fedcore.config.settings import settings
from tests.dashboard.test_app_pages import assert_clean, open_page

FEDERATION = {
    "hospitals": {
        "h1": {"train": {"NORMAL": 10, "PNEUMONIA": 30}, "test": {"NORMAL": 2, "PNEUMONIA": 3}},
        "h2": {"train": {"NORMAL": 5, "PNEUMONIA": 5}, "test": {"NORMAL": 1, "PNEUMONIA": 1}},
    },
    "global_test": {"NORMAL": 4, "PNEUMONIA": 6},
}


def test_every_setting_has_a_widget_and_the_unplaced_ones_show_their_declared_defaults(store):
    # Prepare
    at = open_page("views/train.py")
    assert_clean(at)
    keys = run_form.PLACED | {s.name: f"f_{s.name}" for s in run_form.unplaced()}

    # Assert: every declared setting has a widget on the page (the data folder's field shows
    # only once "My folder" is chosen), and what the layout does not place by hand is drawn by
    # its declaration, with its declared default
    assert set(keys) == {s.name for s in settings(RunConfig)}
    missing = [k for name, k in keys.items() if k not in at.session_state and name != "data"]
    assert not missing
    for s in run_form.unplaced():
        assert f"f_{s.name}" in at.session_state
        # An optional number shows 0 for None (run_form.widget)
        assert at.session_state[f"f_{s.name}"] == (0 if s.default is None else s.default)


def test_the_form_starts_the_declared_defaults(store):
    # The form's untouched values are RunConfig's own; the privacy target waits, greyed out, at
    # the epsilon the DP defaults were measured at, and counts only once privacy is on
    at = open_page("views/train.py")
    eps = at.number_input(key="f_eps")
    assert eps.value == run_form.MEASURED_EPSILON == 8.0 and eps.disabled
    assert at.number_input(key="f_rounds").value == RunConfig().rounds
    assert at.selectbox(key="f_lr_schedule").value == RunConfig().lr_schedule


def test_images_counts_training_under_a_cap_and_every_test_image():
    assert estimate.images(FEDERATION, None, 2) == (50, 17)
    assert estimate.images(FEDERATION, 10, 2) == (20, 17)
    assert estimate.images(FEDERATION, 1000, 2) == (50, 17)


def test_a_comparable_run_has_the_same_model_and_input_size():
    runs = [
        {"rounds_done": 0, "config": RunConfig().to_dict()},
        {"rounds_done": 2, "config": RunConfig(image_size=64).to_dict()},
        {
            "rounds_done": 2,
            "config": RunConfig(image_size=28).to_dict(),
            "id": "same size, said explicitly",
        },
    ]
    assert estimate.comparable_run(runs, RunConfig())["id"] == "same size, said explicitly"
    assert estimate.comparable_run(runs, RunConfig(backbone="mobilenetv3small")) is None


def test_progress_says_what_a_starting_run_is_doing():
    start = {
        "round": 0,
        "rounds": 5,
        "step": "loading data",
        "hospital": None,
        "hospital_index": 0,
        "hospitals": 0,
        "round_elapsed": 0.0,
        "mean_round_seconds": None,
    }
    assert estimate.progress(start) == (0.0, "Getting ready: loading the data…")
    assert (
        estimate.progress({**start, "step": "building model"})[1]
        == "Getting ready: building the model…"
    )
    flower = {**start, "round": 2, "step": "training", "hospitals": 3}
    fraction, words = estimate.progress(flower)
    assert fraction == 0.2 and words.startswith("Round 2 of 5 · training at 3 hospitals")


def test_the_estimate_counts_what_patient_level_privacy_costs():
    plain = estimate.round_seconds("cnn", None, 4694, 1248)
    private = estimate.round_seconds("cnn", None, 4694, 1248, dp="patient")
    fit_ms, eval_ms = estimate.MEASURED_MS["cnn"]
    assert private - plain == pytest.approx(4694 * fit_ms * (estimate.DP_TRAIN_FACTOR - 1) / 1000)
    assert estimate.round_seconds("cnn", None, 4694, 1248, measured=(1.0, 1.0), dp="patient") == (
        estimate.round_seconds("cnn", None, 4694, 1248, measured=(1.0, 1.0))
    ), "a measured run already includes it"
