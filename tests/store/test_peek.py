"""What a live view polls every 1.5 s: one read of the store and no write."""

import os
import sqlite3
import subprocess
import sys

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


def test_peek_reads_once_and_writes_nothing_even_when_the_trainer_is_gone(tmp_path):
    store = CountingStore(tmp_path)
    run_id = store.create_run({"rounds": 2}, 2, "federated")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.mark_running(run_id)
    store.set_pid(run_id, gone.pid)
    before = stored(store)
    store.connections = 0
    run = store.peek(run_id)
    assert store.connections == 1
    assert (run["status"], run["error"]) == ("failed", PROCESS_GONE), "read as failed"
    assert stored(store) == before, "nothing written"
    assert RunStore(tmp_path).get_run(run_id)["status"] == "failed", "a full read records it"


def test_peek_of_a_live_run_is_the_row_as_written(tmp_path):
    store = CountingStore(tmp_path)
    run_id = store.create_run({"rounds": 2}, 2, "federated")
    store.set_pid(run_id, os.getpid())
    store.mark_running(run_id)
    run = store.peek(run_id)
    assert run["status"] == "running" and run["pid"] == os.getpid()
