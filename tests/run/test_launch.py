"""fedcore.run.launch: runs started as child processes, refused while one trains, stopped, resumed,
reaped."""

from __future__ import annotations

import os
import signal

import pytest

from fedcore import cli
from fedcore.config import flags
from fedcore.config.data_check import check_data
from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.run import launch
from tests.conftest import tiny_config, wait_for
from tests.run.test_bad_model_files import WEIGHTS_NEEDLES


def status(store, run_id: str) -> str:
    launch.reap(store)
    store.reconcile()
    return store.get_run(run_id)["status"]


@pytest.mark.parametrize(
    "config",
    [
        RunConfig(),
        RunConfig(
            rounds=3,
            local_epochs=2,
            hospitals=5,
            backbone="mobilenetv3small",
            image_size=64,
            partition="iid",
            alpha=0.3,
            acquisition_shift=True,
            max_per_hospital=150,
            batch_size=16,
            learning_rate=3e-4,
            class_weighting=False,
            threshold=0.4,
            mode="local",
            seed=9,
            weights="imagenet",
            lr_schedule="constant",
        ),
        RunConfig(
            dp="patient",
            dp_target_epsilon=8.0,
            dp_clip_norm=0.5,
            dp_delta=1e-6,
            batch_size=1024,
            audit_every=2,
        ),
        RunConfig(dp="hospital", dp_noise_multiplier=2.5),
    ],
)
def test_train_flags_reproduce_the_config(config):
    parsed = flags.config_from_args(
        cli.build_parser().parse_args(["train", *flags.train_flags(config)])
    )
    assert parsed.to_dict() == config.to_dict()


def test_check_data_accepts_embedded_and_a_folder_in_the_layout(tmp_path):
    assert check_data("embedded") is None
    with pytest.raises(FedXrayError, match="HOSPITAL"):
        check_data(str(tmp_path))  # the same folder before it has the layout is refused
    (tmp_path / "HOSPITAL").mkdir()
    (tmp_path / "global_test_dataset").mkdir()
    assert check_data(str(tmp_path)) is None


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda p: "", "path is empty"),
        (lambda p: "   ", "path is empty"),
        (lambda p: str(p / "missing"), "does not exist"),
        (lambda p: str(p), "is empty"),
        (lambda p: (p / "HOSPITAL").mkdir() or str(p), "no GLOBAL_TEST_DATASET/"),
        (lambda p: (p / "x.csv").write_text("a") and str(p / "x.csv"), "not a .npz"),
    ],
)
def test_check_data_refuses_what_cannot_train(tmp_path, make, needle):
    with pytest.raises(FedXrayError, match=needle):
        check_data(make(tmp_path))


def test_start_runs_a_child_and_refuses_a_second_start(store):
    run_id = launch.start(tiny_config(rounds=2, max_per_hospital=20), store)
    record = store.get_run(run_id)
    assert record["status"] == "running"
    assert record["pid"] != os.getpid(), "the child trains, never the caller"
    with pytest.raises(FedXrayError, match=f"run {run_id} is still training"):
        launch.start(tiny_config(), store)
    wait_for(lambda: status(store, run_id) == "finished", what="the run to finish")
    assert store.get_run(run_id)["rounds_done"] == 2
    assert launch.log_path(store, run_id).read_text().count("round ") >= 2
    assert launch.active_run(store) is None


def test_stop_then_resume_keeps_the_completed_rounds(store):
    run_id = launch.start(tiny_config(rounds=40, max_per_hospital=20), store)
    wait_for(lambda: store.get_run(run_id)["rounds_done"] >= 1, what="round 1")
    assert launch.stop(store, run_id)
    wait_for(lambda: status(store, run_id) == "stopped", what="the stop")
    kept = store.get_run(run_id)["rounds_done"]
    assert kept >= 1

    launch.resume(store, run_id)
    with pytest.raises(FedXrayError, match="still training"):
        launch.resume(store, run_id)
    wait_for(lambda: store.get_run(run_id)["rounds_done"] > kept, what="a resumed round")
    assert launch.stop(store, run_id)
    wait_for(lambda: status(store, run_id) == "stopped", what="the second stop")
    assert not launch.stop(store, run_id), "nothing to stop any more"


def test_a_killed_child_is_reaped_and_its_run_marked_failed(store):
    run_id = launch.start(tiny_config(rounds=40, max_per_hospital=20), store)
    wait_for(lambda: store.get_run(run_id)["progress"], what="the first heartbeat")
    os.kill(store.get_run(run_id)["pid"], signal.SIGKILL)
    wait_for(lambda: status(store, run_id) == "failed", what="the failure")
    assert "killed" in store.get_run(run_id)["error"]
    assert launch.active_run(store) is None


def test_resume_refuses_a_finished_run(tiny_run):
    run_store, run_id = tiny_run
    with pytest.raises(FedXrayError, match="already finished"):
        launch.resume(run_store, run_id)


@pytest.mark.parametrize("kind", ["another architecture", "NaN weights", "truncated", "missing"])
def test_a_bad_weights_file_is_refused_before_the_dashboard_creates_a_run(
    weights_files, store, kind
):
    """The Privacy page's twin of a CLI run copies its --weights path; a file since replaced or
    removed was found only by the child, which left a failed run behind."""
    path = weights_files[kind]
    config = RunConfig(backbone="mobilenetv3small", weights=str(path), max_per_hospital=20)
    with pytest.raises(FedXrayError) as refused:
        launch.start(config, store)
    message = str(refused.value)
    assert message.startswith(f"cannot load backbone weights from {path}"), message
    assert WEIGHTS_NEEDLES[kind] in message and "\n" not in message and len(message) < 400
    assert store.list_runs() == [], "no run row"
    assert [p for p in store.home.iterdir() if p.is_dir()] == [], "no run folder, no log"
    assert launch.active_run(store) is None, "no child started"
