"""The run store: one SQLite database (WAL) plus weight checkpoints, under FEDCORE_HOME.

The engine writes, the dashboard and the CLI read, often at the same time from other
processes. WAL lets readers run beside the writer without blocking it; each round is
written in one transaction and :meth:`RunStore.snapshot` reads in one, so a reader
sees whole rounds only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import time
from pathlib import Path

from fedcore.errors import FedXrayError
from fedcore.store.checkpoints import CheckpointFiles
from fedcore.store.database import Database, dumps, loads, nan_for_null, storable_text
from fedcore.store.liveness import alive

STATUSES = ("running", "finished", "stopped", "failed")
PROCESS_GONE = ("the training process ended unexpectedly (killed or crashed); "
                "the last completed round is kept: resume the run to continue")


class RunStore(Database, CheckpointFiles):
    """Runs, per-round metrics for every scope, events and checkpoints.

    Parameters
    ----------
    home : str or Path, optional
        Data directory; default (also for '') :func:`default_home`. Created if missing.
    """

    def __init__(self, home: str | Path | None = None):
        super().__init__(home)
        self.unreadable: list[str] = []  # runs left out of list_runs because their record is damaged

    # ------------------------------------------------------------------ writing

    def create_run(self, config: dict, rounds_total: int, mode: str) -> str:
        """Register a new run as running and return its id (sortable by start time)."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        now = time.time()
        with self._write() as db:
            db.execute("INSERT INTO runs (id, created, updated, status, mode, config, rounds_total, pid) "
                       "VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                       (run_id, now, now, mode, dumps(config), rounds_total, os.getpid()))
        return run_id

    def mark_running(self, run_id: str) -> None:
        """A resumed run is running again, in this process."""
        with self._write() as db:
            db.execute("UPDATE runs SET status='running', error=NULL, pid=?, updated=? WHERE id=?",
                       (os.getpid(), time.time(), run_id))

    def set_pid(self, run_id: str, pid: int) -> None:
        """The process that trains a run created by another one (the dashboard starts a child).

        Stop signals this pid and :meth:`reconcile` watches it, so it must be the trainer's.
        """
        with self._write() as db:
            db.execute("UPDATE runs SET pid=?, updated=? WHERE id=?", (pid, time.time(), run_id))

    def set_data_summary(self, run_id: str, summary: dict, notice: str = "") -> None:
        """What each hospital holds (class counts per split) and how the model was initialised."""
        with self._write() as db:
            db.execute("UPDATE runs SET data_summary=?, notice=?, updated=? WHERE id=?",
                       (dumps(summary), notice, time.time(), run_id))

    def set_progress(self, run_id: str, progress: dict) -> None:
        """Where the running round is (round, step, hospital, seconds so far); a heartbeat too."""
        with self._write() as db:
            db.execute("UPDATE runs SET progress=?, updated=? WHERE id=?", (dumps(progress), time.time(), run_id))

    def record_round(self, run_id: str, server_round: int, metrics: dict[str, dict], fairness: dict,
                     fit: dict, seconds: float, best_round: int | None = None) -> None:
        """Write one whole round in one transaction: readers see all of it or none.

        Parameters
        ----------
        metrics : dict of scope to metrics
            ``global`` and one entry per hospital (see fedcore.metrics.binary_metrics).
        fairness : dict
            fedcore.metrics.fairness_summary of the round.
        fit : dict
            Per-hospital training facts (examples, train loss, seconds, bytes sent).
        seconds : float
            Wall time of the round.
        best_round : int, optional
            The round of the best checkpoint so far.
        """
        now = time.time()
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?)",
                       (run_id, server_round, now, seconds, dumps(fairness), dumps(fit)))
            db.executemany("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?)",
                           [(run_id, server_round, scope, dumps(m)) for scope, m in metrics.items()])
            db.execute("UPDATE runs SET rounds_done=?, best_round=COALESCE(?, best_round), updated=? WHERE id=?",
                       (server_round, best_round, now, run_id))

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        """Close a run as finished, stopped or failed (with the user-facing error message)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status}")
        with self._write() as db:
            db.execute("UPDATE runs SET status=?, error=?, progress=NULL, updated=? WHERE id=?",
                       (status, storable_text(error), time.time(), run_id))

    def event(self, run_id: str, kind: str, message: str, server_round: int | None = None,
              level: str = "info", data: dict | None = None) -> None:
        """Append to the run's event log (round start, hospital failed, stop, ...)."""
        now = time.time()
        with self._write() as db:
            db.execute("INSERT INTO events (run_id, time, round, level, kind, message, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, now, server_round, level, kind, storable_text(message),
                        dumps(data) if data else None))
            # An event changes the run's snapshot: readers cache it under this stamp.
            db.execute("UPDATE runs SET updated=? WHERE id=?", (now, run_id))

    def delete_run(self, run_id: str) -> None:
        """Remove a run, its metrics, events and checkpoints."""
        with self._write() as db:
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # ------------------------------------------------------------------ reading

    def list_runs(self) -> list[dict]:
        """Every run, newest first, with its config and status (stale 'running' runs reconciled)."""
        self.reconcile()
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY created DESC").fetchall()
        runs, self.unreadable = [], []
        for row in rows:
            try:
                runs.append(self._run_row(row))
            except FedXrayError as exc:  # one damaged record must not hide the others
                self.unreadable.append(str(exc))
        return runs

    def get_run(self, run_id: str) -> dict:
        """One run; FedXrayError when there is none."""
        self.reconcile(run_id)
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise FedXrayError(f"no run '{run_id}' in {self.path}: `python -m fedcore runs` lists them")
        return self._run_row(row)

    def latest_run(self, status: str | None = None) -> dict | None:
        """The newest run, optionally only of one status."""
        runs = [r for r in self.list_runs() if status is None or r["status"] == status]
        return runs[0] if runs else None

    def snapshot(self, run_id: str) -> dict:
        """The run, its rounds, metrics and events, read in one transaction.

        Returns
        -------
        dict
            run (dict), rounds (list of dict: round, seconds, fairness, fit),
            metrics (list of dict: round, scope, and every metric), events (list of dict).
        """
        self.reconcile(run_id)
        with self._connect() as db:
            db.execute("BEGIN")
            run = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
            if run is None:
                db.execute("COMMIT")
                raise FedXrayError(f"no run '{run_id}' in {self.path}")
            rounds = db.execute("SELECT * FROM rounds WHERE run_id=? ORDER BY round", (run_id,)).fetchall()
            metrics = db.execute("SELECT * FROM metrics WHERE run_id=? ORDER BY round, scope", (run_id,)).fetchall()
            events = db.execute("SELECT * FROM events WHERE run_id=? ORDER BY id", (run_id,)).fetchall()
            db.execute("COMMIT")
        try:
            return {
                "run": self._run_row(run),
                "rounds": [{"round": r["round"], "seconds": r["seconds"], "finished": r["finished"],
                            "fairness": loads(r["fairness"]), "fit": loads(r["fit"])} for r in rounds],
                "metrics": [{"round": m["round"], "scope": m["scope"], **nan_for_null(loads(m["values_json"]))}
                            for m in metrics],
                "events": [{"time": e["time"], "round": e["round"], "level": e["level"], "kind": e["kind"],
                            "message": e["message"], "data": loads(e["data"])} for e in events],
            }
        except (ValueError, TypeError, AttributeError) as exc:
            raise self._damaged_record(run_id, exc) from exc

    def reconcile(self, run_id: str | None = None) -> None:
        """Mark as failed any 'running' run (or only ``run_id``) whose process on this machine is gone.

        Called by every read of a run, so that a run killed with kill -9 can be resumed
        straight away and never shows as running.
        """
        with self._connect() as db:
            rows = db.execute("SELECT id, pid, updated FROM runs WHERE status='running'"
                              + (" AND id=?" if run_id else ""), (run_id,) if run_id else ()).fetchall()
        for row in rows:
            if row["pid"] and not alive(row["pid"], row["updated"]):
                try:
                    self.finish(row["id"], "failed", PROCESS_GONE)
                except FedXrayError:  # a full disk or read-only store: still readable as it is
                    pass

    def _run_row(self, row: sqlite3.Row) -> dict:
        out = dict(row)
        try:
            for key in ("config", "data_summary", "progress"):
                out[key] = loads(out[key])
            if not isinstance(out["config"], dict):
                raise ValueError("config is not a JSON object")
        except (ValueError, TypeError) as exc:
            raise self._damaged_record(out["id"], exc) from exc
        return out

    def _damaged_record(self, run_id: str, exc: Exception) -> FedXrayError:
        return FedXrayError(f"run {run_id}'s record in {self.path} is damaged ({exc}): it cannot be shown, the other "
                            "runs are readable (move the store aside to start afresh)")
