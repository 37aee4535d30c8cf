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
import time
from pathlib import Path

from fedcore.errors import FedXrayError
from fedcore.store.checkpoints import CheckpointFiles
from fedcore.store.database import STATUSES, Database, dumps, storable_text
from fedcore.store.liveness import PROCESS_GONE, alive
from fedcore.store.reading import RunReader


def still_training(record) -> str:
    """Why a run cannot start while ``record`` (a run's row) trains."""
    return (
        f"run {record['id']} is still training (round {record['rounds_done']}/"
        f"{record['rounds_total']} done): stop it or wait for it to finish before starting "
        "another; one run trains at a time"
    )


class RunStore(RunReader, Database, CheckpointFiles):
    """Runs, per-round metrics for every scope, events and checkpoints.

    Parameters
    ----------
    home : str or Path, optional
        Data directory; default (also for '') :func:`default_home`. Created if missing.
    """

    def __init__(self, home: str | Path | None = None):
        super().__init__(home)
        # Runs left out of list_runs because their record is damaged.
        self.unreadable: list[str] = []

    # ------------------------------------------------------------------ writing

    def create_run(self, config: dict, rounds_total: int, mode: str) -> str:
        """Register a new run as running and return its id (sortable by start time).

        Raises
        ------
        FedXrayError
            While another run trains in this store: one run trains at a time.
        """
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        now = time.time()
        with self._write() as db:
            self._refuse_if_training(db)
            db.execute(
                "INSERT INTO runs (id, created, updated, status, mode, config, rounds_total, pid) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                (run_id, now, now, mode, dumps(config), rounds_total, os.getpid()),
            )
        return run_id

    def mark_running(self, run_id: str) -> None:
        """A resumed run is running again, in this process; FedXrayError while another trains."""
        with self._write() as db:
            self._refuse_if_training(db, besides=run_id)
            db.execute(
                "UPDATE runs SET status='running', error=NULL, pid=?, updated=? WHERE id=?",
                (os.getpid(), time.time(), run_id),
            )

    def _refuse_if_training(self, db, besides: str | None = None) -> None:
        """Inside the write transaction that starts a run: FedXrayError naming the run that
        trains in this store now (its process alive).

        SQLite lets one writer at a time past ``BEGIN IMMEDIATE``, so two processes starting
        a run at the same moment cannot both find the store idle.
        """
        rows = db.execute(
            "SELECT id, pid, updated, rounds_done, rounds_total FROM runs "
            "WHERE status='running' AND id IS NOT ?",
            (besides,),
        ).fetchall()
        for row in rows:
            if row["pid"] and alive(row["pid"], row["updated"]):
                raise FedXrayError(still_training(row))

    def set_pid(self, run_id: str, pid: int) -> None:
        """The process that trains a run created by another one (the dashboard starts a child).

        Stop signals this pid and :meth:`reconcile` watches it, so it must be the trainer's.
        """
        with self._write() as db:
            db.execute("UPDATE runs SET pid=?, updated=? WHERE id=?", (pid, time.time(), run_id))

    def set_data_summary(self, run_id: str, summary: dict, notice: str = "") -> None:
        """What each hospital holds (class counts per split) and how the model was initialised."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET data_summary=?, notice=?, updated=? WHERE id=?",
                (dumps(summary), notice, time.time(), run_id),
            )

    def set_progress(self, run_id: str, progress: dict) -> None:
        """Where the running round is (round, step, hospital, seconds so far); a heartbeat too."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET progress=?, updated=? WHERE id=?",
                (dumps(progress), time.time(), run_id),
            )

    def record_round(
        self,
        run_id: str,
        server_round: int,
        metrics: dict[str, dict],
        fairness: dict,
        fit: dict,
        seconds: float,
        best_round: int | None = None,
        checkpoints: dict[str, dict[str, list]] | None = None,
    ) -> None:
        """Write one whole round and its checkpoints: readers see all of it or none, and a failure
        leaves the database and the files as they were before the round.

        The checkpoints are written to temp files first; the round is committed only once all
        of them are, and they replace the previous ones only once it is. So a full disk at
        any of them records nothing of the round: the run resumes at this round, from the
        state before it.

        Parameters
        ----------
        metrics : dict of scope to metrics
            ``global`` and one entry per hospital (see fedcore.results.metrics.binary_metrics).
        fairness : dict
            fedcore.results.fairness.fairness_summary of the round.
        fit : dict
            Per-hospital training facts (examples, train loss, seconds, bytes sent).
        seconds : float
            Wall time of the round.
        best_round : int, optional
            The round of the best checkpoint so far.
        checkpoints : dict of name to models, optional
            The round's checkpoints ('last', 'server', and 'best' when this round is the
            best), as :meth:`save_checkpoint` takes them.

        Raises
        ------
        FedXrayError
            When a checkpoint or the round cannot be written.
        """
        staged: dict[str, Path] = {}
        try:
            for name, models in (checkpoints or {}).items():
                staged[name] = self.stage_checkpoint(run_id, name, server_round, models)
            self._commit_round(run_id, server_round, metrics, fairness, fit, seconds, best_round)
        except BaseException:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)
            raise
        for name, tmp in staged.items():
            os.replace(tmp, self.run_dir(run_id) / f"{name}.npz")

    def _commit_round(self, run_id, server_round, metrics, fairness, fit, seconds, best_round):
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, server_round, now, seconds, dumps(fairness), dumps(fit)),
            )
            db.executemany(
                "INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?)",
                [(run_id, server_round, scope, dumps(m)) for scope, m in metrics.items()],
            )
            db.execute(
                "UPDATE runs SET rounds_done=?, best_round=COALESCE(?, best_round), updated=? "
                "WHERE id=?",
                (server_round, best_round, now, run_id),
            )

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        """Close a run as finished, stopped or failed (with the user-facing error message)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status}")
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status=?, error=?, progress=NULL, updated=? WHERE id=?",
                (status, storable_text(error), time.time(), run_id),
            )

    def event(
        self,
        run_id: str,
        kind: str,
        message: str,
        server_round: int | None = None,
        level: str = "info",
        data: dict | None = None,
    ) -> None:
        """Append to the run's event log (round start, hospital failed, stop, ...)."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO events (run_id, time, round, level, kind, message, data) VALUES (?, "
                "?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    now,
                    server_round,
                    level,
                    kind,
                    storable_text(message),
                    dumps(data) if data else None,
                ),
            )
            # An event changes the run's snapshot: readers cache it under this stamp.
            db.execute("UPDATE runs SET updated=? WHERE id=?", (now, run_id))

    def delete_run(self, run_id: str) -> None:
        """Remove a run, its metrics, events and checkpoints."""
        with self._write() as db:
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def reconcile(self, run_id: str | None = None) -> None:
        """Mark as failed any 'running' run (or only ``run_id``) whose process on this machine is
        gone.

        Called by every read of a run, so that a run killed with kill -9 can be resumed
        straight away and never shows as running.
        """
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, pid, updated FROM runs WHERE status='running'"
                + (" AND id=?" if run_id else ""),
                (run_id,) if run_id else (),
            ).fetchall()
        for row in rows:
            if row["pid"] and not alive(row["pid"], row["updated"]):
                try:
                    self.finish(row["id"], "failed", PROCESS_GONE)
                except FedXrayError:  # a full disk or read-only store: still readable as it is
                    pass
