"""A resumed run restores its strategy's exact state or refuses with the reason.

A SCAFFOLD run keeps its control variates in 'server.npz'; deleted by hand, a resume would
have gone on from zero controls to weights no uninterrupted run has. Real runs, a real
``python -m fedcore`` process, files as a careless hand leaves them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fedcore import cli
from fedcore.run import engine
from fedcore.store import RunStore
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]


def stopped_copy(tiny_run, tmp_path) -> tuple[RunStore, str]:
    """A private copy of the session's 2-round SCAFFOLD run, as if stopped after 2 of 3 rounds."""
    store, run_id = tiny_run
    shutil.copytree(store.home, tmp_path / "home")
    copy = RunStore(tmp_path / "home")
    with copy._write() as db:
        db.execute("UPDATE runs SET status='stopped', rounds_total=3 WHERE id=?", (run_id,))
    return copy, run_id


def fedcore_process(home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "fedcore", "--home", str(home), *argv]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_deleted_server_state_stops_a_scaffold_resume_with_the_reason(tiny_run, tmp_path):
    store, run_id = stopped_copy(tiny_run, tmp_path)
    assert store.get_run(run_id)["config"]["strategy"] == "scaffold"
    server = store.run_dir(run_id) / "server.npz"
    server.unlink()
    files = {p.name: p.read_bytes() for p in store.run_dir(run_id).iterdir()}
    done = fedcore_process(store.home, "train", "--resume", run_id)
    assert done.returncode == cli.EXIT_USER_ERROR, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in (str(server), "cannot be resumed exactly", "is missing", "put the file back"):
        assert needle in lines[0], (needle, lines[0])
    assert "round 3" not in done.stdout
    record = store.get_run(run_id)
    assert (record["status"], record["rounds_done"]) == ("stopped", 2), "the run keeps its status"
    assert {p.name: p.read_bytes() for p in store.run_dir(run_id).iterdir()} == files
    assert not [e for e in store.snapshot(run_id)["events"] if e["kind"] == "resumed"]


def test_a_server_state_of_the_wrong_shapes_is_refused_before_the_run_restarts(
    tiny_run, tmp_path, capsys
):
    from tests.run.test_bad_model_files import rewrite

    store, run_id = stopped_copy(tiny_run, tmp_path)
    server = store.run_dir(run_id) / "server.npz"

    def forge(arrays, meta):  # SCAFFOLD's c, altered with its record
        arrays["strategy/c/0"] = arrays["strategy/c/0"][..., :31]
        meta["shapes"]["strategy/c"][0][-1] = 31

    rewrite(server, forge)
    code = cli.main(["--home", str(store.home), "train", "--resume", run_id])
    _, err = capsys.readouterr()
    assert code == cli.EXIT_USER_ERROR, err
    assert err.count("\n") == 1 and err.startswith("error: the 'server' checkpoint"), err
    assert "where the run's model has (3, 3, 1, 32)" in err and "put back" in err
    assert store.get_run(run_id)["status"] == "stopped"


def test_a_strategy_without_state_resumes_without_its_server_file(store):
    stop = engine.StopSignal()

    def log(line: str) -> None:
        if line.startswith("round  1/"):
            stop.set()

    stopped = engine.run(tiny_config(strategy="fedavg"), store, stop=stop, log=log)
    assert (stopped.status, stopped.rounds_done) == ("stopped", 1)
    (store.run_dir(stopped.run_id) / "server.npz").unlink()  # FedAvg keeps nothing in it
    resumed = engine.run(store=store, resume=stopped.run_id, log=lambda line: None)
    assert (resumed.status, resumed.rounds_done) == ("finished", 2), resumed.error


@pytest.mark.parametrize("strategy", ["fedavgm", "fedadam", "fedyogi", "scaffold"])
def test_the_strategies_that_keep_state_say_so(strategy):
    from fedcore.privacy.mechanism import run_strategy
    from fedcore.strategies import keeps_state

    config = tiny_config(strategy=strategy)
    assert keeps_state(config) and run_strategy(config, 3).keeps_state
    assert not keeps_state(tiny_config(strategy="fedavg"))
    assert not keeps_state(tiny_config(strategy=strategy, mode="local")), "local runs average none"
