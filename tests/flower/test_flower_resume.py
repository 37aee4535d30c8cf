"""Resuming a Flower run, without a SuperLink: who may resume which run and with which settings,
how a ServerApp ended mid-run is recorded, and the hospitals' SCAFFOLD control variates that the
server keeps so that a resumed run goes on as an uninterrupted one.

The whole case (a SuperLink killed mid-run, the run resumed over Flower to the uninterrupted
result) is ``test_flower_faults.py``'s, on a real deployment.
"""

from __future__ import annotations

import numpy as np
import pytest

from fedcore.cli import main
from fedcore.errors import FedXrayError
from fedcore.flower.app_config import from_run_config
from fedcore.flower.hospital_controls import HospitalControls
from fedcore.flower.round_books import interrupted
from fedcore.flower.server_setup import open_flower_run
from fedcore.payload import FitOutcome
from fedcore.server.recorder import RoundRecorder
from fedcore.strategies.drift import CONTROL_KEY, control_update, zero_control
from tests.conftest import tiny_config

START = [np.array([1.0, 2.0], np.float32), np.array([0.5], np.float32)]
ASKED = {
    CONTROL_KEY: [np.array([0.5, -0.5], np.float32), np.array([0.25], np.float32)],
    "learning_rate": 0.1,
}


def update(shift: float) -> list[np.ndarray]:
    return [w + np.float32(shift) for w in START]


def flower_run(store, status: str, **run_config) -> str:
    """A Flower run's row, ended with ``status``."""
    run_id = store.create_run(from_run_config(run_config).to_dict(), 3, "federated")
    store.finish(run_id, status, "ended")
    return run_id


def test_a_flower_run_resumes_over_flower_only_and_with_the_settings_it_started_with(store, capsys):
    # Prepare: a failed Flower run and a stopped in-process one
    flower = flower_run(store, "failed", rounds=3)
    in_process = store.create_run(tiny_config().to_dict(), 2, "federated")
    store.finish(in_process, "stopped")

    # Execute / Assert: in process, a Flower run is one line saying how to resume it over Flower
    assert main(["train", "--resume", flower]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "ran over Flower" in line and f'resume="{flower}"' in line, line
    refused = {
        "trained in process": {"rounds": 2, "resume": in_process},
        "started with rounds=3, and this Flower run has rounds=4": {"rounds": 4, "resume": flower},
        "no run 'absent'": {"resume": "absent"},
    }
    for says, run_config in refused.items():
        with pytest.raises(FedXrayError, match=says):
            open_flower_run(store, from_run_config(run_config))
    assert store.get_run(flower)["status"] == "failed", "a refused resume keeps the run as it was"
    # Waiting longer is allowed; with no round done, the run resumes at round 1
    opening = open_flower_run(
        store, from_run_config({"rounds": 3, "round-timeout": 9.0} | {"resume": flower})
    )
    assert (opening.run_id, opening.start_round, opening.weights) == (flower, 1, None)
    assert store.get_run(flower)["status"] == "running"
    assert [e["kind"] for e in store.snapshot(flower)["events"]][-1] == "resumed"


def test_a_serverapp_ended_mid_run_says_how_to_resume_and_an_ended_run_stays_as_it_is(store):
    # Prepare: a Flower run that is running, one round done; another that finished
    run_id = store.create_run(from_run_config({"rounds": 3}).to_dict(), 3, "federated")
    with store._write() as db:
        db.execute("UPDATE runs SET rounds_done=1 WHERE id=?", (run_id,))
    lines = []

    # Execute: what Flower's exit runs when the SuperLink goes away, then at a run's end
    interrupted(RoundRecorder(store, run_id, 3, lines.append))
    finished = flower_run(store, "finished", rounds=3)
    interrupted(RoundRecorder(store, finished, 3, lines.append))

    # Assert
    record = store.get_run(run_id)
    assert (record["status"], record["rounds_done"]) == ("failed", 1)
    assert "during round 2" in record["error"] and f'resume="{run_id}"' in record["error"]
    assert lines == [f"error: {record['error']}"]
    assert store.get_run(finished)["status"] == "finished"


def test_the_server_keeps_each_hospitals_control_variate_as_the_hospital_computes_it():
    # Prepare: two hospitals of 8 and 4 training images, batch 4: K = 2 and 1 local steps
    controls, names = HospitalControls(None, epochs=1, batch=4), {11: "h1", 12: "h2"}
    h1 = control_update(zero_control(START), ASKED[CONTROL_KEY], START, update(0.1), 2, 0.1)
    h2 = control_update(zero_control(START), ASKED[CONTROL_KEY], START, update(0.3), 1, 0.1)

    # Execute: round 1 (no control sent: every hospital starts from zero), then round 2 without
    # h2's update, then a new run that resumes, with h1 back on a node and h2 restarted, unnamed
    first = controls.to_send([11, 12], names)
    controls.after_round(
        [11, 12], names, {"h1": FitOutcome(update(0.1), 8), "h2": FitOutcome(update(0.3), 4)},
        START, ASKED,
    )  # fmt: skip
    second = controls.to_send([11, 12], names)
    controls.after_round([11, 12], names, {"h1": FitOutcome(update(0.2), 8)}, START, ASKED)
    third = controls.to_send([11, 12], names)
    resumed = HospitalControls(controls.state(), epochs=1, batch=4)
    sent = resumed.to_send([21, 23], {21: "h1"})
    resumed.after_round(
        [21, 23], {21: "h1", 23: "h2"},
        {"h1": FitOutcome(update(0.4), 8), "h2": FitOutcome(update(0.5), 4)}, START, ASKED,
    )  # fmt: skip

    # Assert: c_i bit for bit as the hospital's own arithmetic gives it; sent only where the
    # node may not hold it (a node that gave no update, a node of the resumed run)
    h1 = control_update(h1, ASKED[CONTROL_KEY], START, update(0.2), 2, 0.1)
    assert first == second == {} and list(third) == [12]
    assert [c.tobytes() for c in third[12]] == [c.tobytes() for c in h2]
    assert list(sent) == [21] and [c.tobytes() for c in sent[21]] == [c.tobytes() for c in h1]
    assert sorted(controls.state()) == ["control/h1", "control/h2"]
    h1 = control_update(h1, ASKED[CONTROL_KEY], START, update(0.4), 2, 0.1)
    h2 = control_update(zero_control(START), ASKED[CONTROL_KEY], START, update(0.5), 1, 0.1)
    for name, want in {"h1": h1, "h2": h2}.items():
        assert [c.tobytes() for c in resumed.controls[name]] == [c.tobytes() for c in want], name
