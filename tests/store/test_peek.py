"""What a live view polls every 1.5 s: one read of the store and no write, with the run's rounds
only when it has new ones."""

import os
import sqlite3
import subprocess
import sys

from fedcore.results.metrics import binary_metrics
from fedcore.store import PROCESS_GONE, RunStore


class CountingStore(RunStore):
    """A real store that counts its connections and the rows it changes."""

    def __init__(self, home):
        self.connections = 0
        super().__init__(home)

    def _connect(self):
        self.connections += 1
        return super()._connect()


def stored(store: RunStore) -> tuple:
    """Every run row and the number of events, read straight from the SQLite file."""
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return rows, db.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def test_a_look_reads_once_and_writes_nothing_even_when_the_trainer_is_gone(tmp_path):
    store = CountingStore(tmp_path)
    run_id = store.create_run({"rounds": 2}, 2, "federated")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.mark_running(run_id)
    store.set_pid(run_id, gone.pid)
    before = stored(store)
    store.connections = 0
    run, snap = store.look(run_id)
    assert store.connections == 1
    assert (run["status"], run["error"]) == ("failed", PROCESS_GONE), "read as failed"
    assert snap["run"]["status"] == "failed", "the snapshot says what the run says"
    assert stored(store) == before, "nothing written"
    assert RunStore(tmp_path).get_run(run_id)["status"] == "failed", "a full read records it"


def test_a_look_brings_the_rounds_only_when_they_changed(tmp_path):
    store = CountingStore(tmp_path)
    run_id = store.create_run({"rounds": 2}, 2, "federated")
    store.set_pid(run_id, os.getpid())
    store.mark_running(run_id)
    run, snap = store.look(run_id)
    assert run["status"] == "running" and run["pid"] == os.getpid()
    assert snap["rounds"] == [] and snap["metrics"] == []
    metrics = binary_metrics([0, 1, 1, 0], [0.2, 0.8, 0.6, 0.3])
    store.record_round(run_id, 1, {"global": metrics}, {}, {}, 1.0, 1)
    store.connections = 0
    run, same = store.look(run_id, known=(0, "running"))
    assert store.connections == 1 and run["rounds_done"] == 1
    assert same == store.snapshot(run_id), "a new round: the snapshot a full read gives"
    store.connections = 0
    run, none = store.look(run_id, known=(1, "running"))
    assert none is None and store.connections == 1, "nothing new: the row alone"
    store.finish(run_id, "finished")
    assert store.look(run_id, known=(1, "running"))[1]["run"]["status"] == "finished"
