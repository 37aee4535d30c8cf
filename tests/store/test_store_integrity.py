"""The store keeps its word: read-only means read-only, a malformed run is reported alone, one
run trains at a time across processes, and a full disk never leaves the database and the
checkpoint files telling two stories.

Read-only folders and full disks are real: a read-only bind mount and a small tmpfs (they
need root; the tests say so and skip without it).
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from fedcore.errors import FedXrayError
from fedcore.store import RunStore
from tests.store.test_store_damage import SAMPLE, assert_one_error_line, filled_store, run_cli

ROOT = Path(__file__).resolve().parents[2]


def unmount(at: Path) -> None:
    """Unmount ``at``; lazily when a file is still open there (a connection not yet collected)."""
    gc.collect()
    if subprocess.run(["umount", str(at)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(at)], check=True)


def mount(*argv: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only folder or a small disk needs root")
    done = subprocess.run(["mount", *argv], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


@contextmanager
def read_only_view(folder: Path, at: Path):
    """``folder`` seen through a read-only bind mount at ``at``."""
    at.mkdir()
    mount("--bind", str(folder), str(at))
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(at)], check=True)
        yield at
    finally:
        unmount(at)


@contextmanager
def small_disk(at: Path, size: str):
    """A tmpfs of ``size`` at ``at``: a disk that fills up."""
    at.mkdir()
    mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(at))
    try:
        yield at
    finally:
        unmount(at)


# ----------------------------------------------------------------------------- read-only


def test_a_read_only_store_reads_and_refuses_writes_with_the_reason(tmp_path, capsys):
    _, ids = filled_store(tmp_path / "home")
    with read_only_view(tmp_path / "home", tmp_path / "ro") as home:
        code, out, err = run_cli(capsys, "--home", str(home), "runs")
        assert code == 0 and all(i in out for i in ids), err
        code, out, err = run_cli(capsys, "--home", str(home), "report", ids[0])
        assert code == 0 and "Table 1" in out, err
        store = RunStore(home)
        assert store.snapshot(ids[0])["run"]["rounds_done"] == 2
        for write in (
            lambda: store.create_run({}, 2, "federated"),
            lambda: store.delete_run(ids[0]),
            lambda: store.mark_running(ids[0]),
            lambda: store.save_checkpoint(ids[0], "last", 3, {"global": [np.zeros(3)]}),
        ):
            with pytest.raises(FedXrayError, match="is read-only .a read-only file system.*read"):
                write()
        code, _, err = run_cli(capsys, "--home", str(home), "train", "--rounds", "1")
        assert_one_error_line(code, err, "read-only", "can be read, not changed")
        assert "damaged" not in err
    assert len(RunStore(tmp_path / "home").list_runs()) == 3, "nothing was changed"


# ----------------------------------------------------------------------------- malformed runs


def damage_records(store: RunStore, ids: list[str]) -> None:
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET rounds_done='abc' WHERE id=?", (ids[0],))
        config = {"backbone": 5, "rounds": 2}
        db.execute("UPDATE runs SET config=? WHERE id=?", (json.dumps(config), ids[1]))


@pytest.mark.parametrize("command", ["report", "diagnose"])
def test_a_malformed_value_spoils_only_its_own_run(tmp_path, capsys, command):
    store, ids = filled_store(tmp_path / "home")
    healthy = store.create_run({"backbone": "cnn"}, 1, "federated")
    store.finish(healthy, "stopped")
    damage_records(store, ids)
    code, out, err = run_cli(capsys, "--home", str(store.home), "runs")
    assert code == 0 and ids[2] in out and ids[0] not in out and ids[1] not in out
    assert "'abc', not a whole number" in err and "backbone is 5, not text" in err
    for run_id, why in ((ids[0], "rounds_done is 'abc'"), (ids[1], "backbone is 5, not text")):
        argv = (
            ["report", run_id]
            if command == "report"
            else ["diagnose", str(SAMPLE), "--run", run_id]
        )
        code, _, err = run_cli(capsys, "--home", str(store.home), *argv)
        assert_one_error_line(code, err, run_id, "damaged", why, "other runs are readable")


@pytest.mark.parametrize("loss", ["rows deleted", "table dropped"])
def test_completed_rounds_without_their_metrics_are_reported_not_shown_empty(
    tmp_path, capsys, loss
):
    store, ids = filled_store(tmp_path / "home")
    with sqlite3.connect(store.path) as db:
        if loss == "rows deleted":
            db.execute("DELETE FROM metrics WHERE run_id=?", (ids[0],))
        else:
            db.execute("DROP TABLE metrics")
    code, out, err = run_cli(capsys, "--home", str(store.home), "report", ids[0])
    assert "Empty DataFrame" not in out
    assert_one_error_line(code, err, ids[0], "lists 2 completed round(s)", "no metrics")


# ----------------------------------------------------------------------------- one run at a time

RACER = textwrap.dedent(
    """
    import sys, time
    from fedcore.errors import FedXrayError
    from fedcore.store import RunStore
    store, start = RunStore(sys.argv[1]), float(sys.argv[2])
    while time.time() < start:
        pass
    try:
        print("won", store.create_run({"backbone": "cnn"}, 2, "federated"), flush=True)
        time.sleep(6)  # trains: its process stays alive
    except FedXrayError as exc:
        print("refused", exc, flush=True)
    """
)


def test_processes_racing_to_start_a_run_let_only_one_win(tmp_path):
    RunStore(tmp_path / "home")
    start = time.time() + 3  # every racer imported and waiting by then
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "home"), str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    lines = [racer.communicate(timeout=60)[0].strip() for racer in racers]
    winners = [line for line in lines if line.startswith("won")]
    assert len(winners) == 1, lines
    winner = winners[0].split()[1]
    assert all(f"run {winner} is still training" in line for line in lines if line not in winners)
    assert [r["id"] for r in RunStore(tmp_path / "home").list_runs()] == [winner]


def test_a_resumed_run_cannot_start_while_another_trains(store):
    stopped = store.create_run({"backbone": "cnn"}, 2, "federated")
    store.finish(stopped, "stopped")
    busy = store.create_run({"backbone": "cnn"}, 2, "federated")  # this live process trains it
    with pytest.raises(FedXrayError, match=f"run {busy} is still training"):
        store.mark_running(stopped)
    assert store.get_run(stopped)["status"] == "stopped"


# ----------------------------------------------------------------------------- a full disk


def checkpoint(megabytes: float) -> dict[str, list]:
    return {"global": [np.ones(int(megabytes * 2**20 / 4), np.float32)]}


@pytest.mark.parametrize("failing", ["last", "server", "best"])
def test_a_full_disk_at_any_checkpoint_records_nothing_of_the_round(tmp_path, failing):
    with small_disk(tmp_path / "disk", "6m") as disk:
        store = RunStore(disk / "home")
        run_id = store.create_run({"backbone": "cnn"}, 3, "federated")
        metrics = {"global": {"auroc": 0.9}}
        both = {"last": checkpoint(0.5), "server": checkpoint(0.5), "best": checkpoint(0.5)}
        store.record_round(run_id, 1, metrics, {}, {}, 1.0, 1, both)
        before = {p.name: p.read_bytes() for p in store.run_dir(run_id).iterdir()}
        huge = {name: checkpoint(8 if name == failing else 0.5) for name in both}
        with pytest.raises(
            FedXrayError, match=f"cannot write the '{failing}' checkpoint of round 2"
        ):
            store.record_round(run_id, 2, metrics, {}, {}, 1.0, 2, huge)
        record = store.get_run(run_id)
        assert (record["rounds_done"], record["best_round"]) == (1, 1)
        after = {p.name: p.read_bytes() for p in store.run_dir(run_id).iterdir()}
        assert after == before, "the files are round 1's, as the database says; no temp file"
        assert [r["round"] for r in store.snapshot(run_id)["rounds"]] == [1]


def test_a_full_disk_at_the_first_server_checkpoint_resumes_to_the_same_weights(tmp_path, tiny_run):
    """The issue's case: 'last' fits, 'server' (SCAFFOLD's control variates) does not. Nothing of
    round 1 is kept; after freeing space the resumed run ends with the weights of a run that
    never stopped."""
    from fedcore.run import engine
    from tests.conftest import tiny_config

    reference_store, reference = tiny_run
    with small_disk(tmp_path / "disk", "16m") as disk:
        store = RunStore(disk / "home")
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (free - int(2.5 * 2**20)))  # room for 'last', not 'server'
        failed = engine.run(tiny_config(), store, log=lambda line: None)
        record = store.get_run(failed.run_id)
        assert (failed.status, record["rounds_done"]) == ("failed", 0), record["error"]
        assert "cannot write the 'server' checkpoint of round 1" in record["error"]
        assert list(store.run_dir(failed.run_id).glob("*.npz")) == []
        filler.unlink()
        resumed = engine.run(store=store, resume=failed.run_id, log=lambda line: None)
        assert resumed.status == "finished", resumed.error
        _, weights = store.load_checkpoint(failed.run_id, "last")
    _, expected = reference_store.load_checkpoint(reference, "last")
    for got, want in zip(weights["global"], expected["global"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
