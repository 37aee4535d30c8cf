"""A damaged run store or checkpoint: one `error:` line naming the file and what to do, exit 2,
never a traceback.

Real SQLite files damaged as a disk or a careless hand would: truncated, overwritten with
random bytes, garbage in the middle, a folder in the database's place, a run whose stored
config is not JSON; and checkpoints of random bytes or cut short.
"""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from fedcore import cli
from fedcore.data import SAMPLES_DIR
from fedcore.errors import FedXrayError
from fedcore.results.fairness import fairness_summary
from fedcore.results.metrics import binary_metrics
from fedcore.store import RunStore

SAMPLE = sorted((SAMPLES_DIR / "NORMAL").glob("*.jpeg"))[0]


def filled_store(home) -> tuple[RunStore, list[str]]:
    """Three finished 2-round runs with metrics, events and a checkpoint, as a used store holds."""
    store = RunStore(home)
    metrics = binary_metrics([0, 1, 1, 0], [0.2, 0.8, 0.6, 0.3])
    ids = []
    for _ in range(3):
        run_id = store.create_run({"backbone": "cnn", "rounds": 2}, 2, "federated")
        for r in (1, 2):
            store.record_round(
                run_id,
                r,
                {"global": metrics, "hospital_1": metrics},
                fairness_summary({"hospital_1": metrics}),
                {},
                1.0,
                r,
            )
            store.event(run_id, "round_started", "round " + "x" * 500, r)
        store.save_checkpoint(run_id, "best", 2, {"global": [np.zeros((3, 3), np.float32)]})
        store.finish(run_id, "finished")
        ids.append(run_id)
    return store, ids


def damage(kind: str, path) -> None:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random bytes":
        path.write_bytes(os.urandom(len(data)))
    elif kind == "garbage mid-file":
        path.write_bytes(data[:4096] + os.urandom(4096) + data[8192:])
    elif kind == "a folder in its place":
        path.unlink()
        path.mkdir()


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, err: str, *needles: str) -> None:
    assert code == cli.EXIT_USER_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize(
    "kind", ["truncated", "random bytes", "garbage mid-file", "a folder in its place"]
)
@pytest.mark.parametrize("command", ["runs", "report", "diagnose", "train"])
def test_a_damaged_database_names_the_file_and_says_move_it_aside(tmp_path, capsys, kind, command):
    store, ids = filled_store(tmp_path / "home")
    damage(kind, store.path)
    argv = {
        "runs": ["runs"],
        "report": ["report", ids[0]],
        "diagnose": ["diagnose", str(SAMPLE), "--run", ids[0]],
        "train": ["train", "--rounds", "1"],
    }[command]
    code, _, err = run_cli(capsys, "--home", str(store.home), *argv)
    assert_one_error_line(code, err, str(store.path), "move it aside")


def test_a_config_that_is_not_json_spoils_only_its_own_run(tmp_path, capsys):
    store, ids = filled_store(tmp_path / "home")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET config='{not json' WHERE id=?", (ids[0],))
    code, out, err = run_cli(capsys, "--home", str(store.home), "runs")
    assert code == 0
    assert ids[1] in out and ids[2] in out and ids[0] not in out
    assert err.startswith("warning: ") and ids[0] in err and str(store.path) in err
    code, out, _ = run_cli(capsys, "--home", str(store.home), "report", ids[1])
    assert code == 0 and "Table 1" in out
    for argv in (["report", ids[0]], ["diagnose", str(SAMPLE), "--run", ids[0]]):
        code, _, err = run_cli(capsys, "--home", str(store.home), *argv)
        assert_one_error_line(code, err, ids[0], "damaged", "other runs are readable")


@pytest.mark.parametrize("kind", ["random bytes", "truncated", "empty"])
def test_a_damaged_checkpoint_names_the_file(tmp_path, capsys, kind):
    store, ids = filled_store(tmp_path / "home")
    best = store.run_dir(ids[0]) / "best.npz"
    data = best.read_bytes()
    best.write_bytes(
        {"random bytes": os.urandom(len(data)), "truncated": data[: len(data) // 2], "empty": b""}[
            kind
        ]
    )
    code, _, err = run_cli(
        capsys, "--home", str(store.home), "diagnose", str(SAMPLE), "--run", ids[0]
    )
    assert_one_error_line(code, err, str(best), "damaged", "move it aside")


def test_a_deleted_checkpoint_is_not_called_a_run_without_rounds(tmp_path, capsys):
    store, ids = filled_store(tmp_path / "home")
    (store.run_dir(ids[0]) / "best.npz").unlink()
    code, _, err = run_cli(
        capsys, "--home", str(store.home), "diagnose", str(SAMPLE), "--run", ids[0]
    )
    assert_one_error_line(code, err, "completed 2 round(s)", "missing")
    assert "completed no round" not in err


def test_resume_with_a_damaged_last_checkpoint_names_it_and_keeps_the_status(store):
    from fedcore.run import engine
    from tests.conftest import tiny_config

    stop = engine.StopSignal()

    def log(line: str) -> None:
        if line.startswith("round  1/"):
            stop.set()

    stopped = engine.run(tiny_config(rounds=2), store, stop=stop, log=log)
    assert (stopped.status, stopped.rounds_done) == ("stopped", 1)
    (store.run_dir(stopped.run_id) / "last.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(FedXrayError, match="'last' checkpoint .* is damaged"):
        engine.run(store=store, resume=stopped.run_id, log=lambda line: None)
    record = store.get_run(stopped.run_id)
    assert (record["status"], record["rounds_done"]) == ("stopped", 1), (
        "nothing restarted from round 1"
    )
