"""The run store: one SQLite database (WAL) plus weight checkpoints, under FEDCORE_HOME.

The engine writes, the dashboard and the CLI read, often at the same time from other
processes. WAL lets readers run beside the writer without blocking it; each round is
written in one transaction and :meth:`RunStore.snapshot` reads in one, so a reader
sees whole rounds only.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import sqlite3
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fedcore.errors import FedXrayError

STATUSES = ("running", "finished", "stopped", "failed")
PROCESS_GONE = ("the training process ended unexpectedly (killed or crashed); "
                "the last completed round is kept: resume the run to continue")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    config TEXT NOT NULL,
    data_summary TEXT,
    rounds_total INTEGER NOT NULL,
    rounds_done INTEGER NOT NULL DEFAULT 0,
    best_round INTEGER,
    error TEXT,
    notice TEXT,
    pid INTEGER,
    progress TEXT
);
CREATE TABLE IF NOT EXISTS rounds (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    round INTEGER NOT NULL,
    finished REAL NOT NULL,
    seconds REAL NOT NULL,
    fairness TEXT NOT NULL,
    fit TEXT NOT NULL,
    PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    round INTEGER NOT NULL,
    scope TEXT NOT NULL,
    values_json TEXT NOT NULL,
    PRIMARY KEY (run_id, round, scope)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    time REAL NOT NULL,
    round INTEGER,
    level TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX IF NOT EXISTS events_by_run ON events(run_id, id);
"""


def default_home() -> Path:
    """FEDCORE_HOME, or ./runs when it is unset or empty (an empty one must not mean the current folder)."""
    return Path(os.environ.get("FEDCORE_HOME") or "runs")


def _dumps(value) -> str:
    """JSON with NaN written as null (a metric undefined for a one-class test set)."""
    return json.dumps(_finite(value), separators=(",", ":"))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def _loads(text):
    return json.loads(text) if text else None


class RunStore:
    """Runs, per-round metrics for every scope, events and checkpoints.

    Parameters
    ----------
    home : str or Path, optional
        Data directory; default (also for '') :func:`default_home`. Created if missing.
    """

    def __init__(self, home: str | Path | None = None):
        self.home = Path(home) if home else default_home()  # '' is unset, not the current folder
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FedXrayError(f"cannot create the run store folder {self.home} ({exc.strerror}): "
                               "set FEDCORE_HOME to a writable folder") from exc
        self.path = self.home / "fedxray.sqlite"
        self.unreadable: list[str] = []  # runs left out of list_runs because their record is damaged
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self):
        # One short-lived connection per operation: safe from any thread or process.
        try:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA foreign_keys=ON")
                db.execute("PRAGMA synchronous=NORMAL")
                yield db
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            raise self._database_error(exc) from exc

    @contextmanager
    def _write(self):
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may already have rolled back (disk full)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _database_error(self, exc: sqlite3.DatabaseError) -> FedXrayError:
        """What a user can do about an SQLite failure: a full disk, a busy store, or a damaged file."""
        text = str(exc)
        if "full" in text:
            return FedXrayError(f"the disk holding the run store {self.path} is full ({text}): free some space; "
                                "a run that was training keeps its last completed round and can be resumed")
        if "locked" in text or "busy" in text:
            return FedXrayError(f"the run store {self.path} stayed busy for 30 s ({text}): try again")
        if self.path.is_dir():
            return FedXrayError(f"the run store {self.path} is a folder, not a database: move it aside (e.g. "
                                f"`mv {self.path} {self.path}.folder`) and the next command starts an empty store")
        return FedXrayError(f"the run store {self.path} is damaged or not a database ({text}): move it aside "
                            f"(with its -wal and -shm files), e.g. `mv {self.path} {self.path}.damaged`, and the "
                            "next command starts an empty store; the checkpoints under "
                            f"{self.home} are left as they are")

    # ------------------------------------------------------------------ writing

    def create_run(self, config: dict, rounds_total: int, mode: str) -> str:
        """Register a new run as running and return its id (sortable by start time)."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        now = time.time()
        with self._write() as db:
            db.execute("INSERT INTO runs (id, created, updated, status, mode, config, rounds_total, pid) "
                       "VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                       (run_id, now, now, mode, _dumps(config), rounds_total, os.getpid()))
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
                       (_dumps(summary), notice, time.time(), run_id))

    def set_progress(self, run_id: str, progress: dict) -> None:
        """Where the running round is (round, step, hospital, seconds so far); a heartbeat too."""
        with self._write() as db:
            db.execute("UPDATE runs SET progress=?, updated=? WHERE id=?", (_dumps(progress), time.time(), run_id))

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
                       (run_id, server_round, now, seconds, _dumps(fairness), _dumps(fit)))
            db.executemany("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?)",
                           [(run_id, server_round, scope, _dumps(m)) for scope, m in metrics.items()])
            db.execute("UPDATE runs SET rounds_done=?, best_round=COALESCE(?, best_round), updated=? WHERE id=?",
                       (server_round, best_round, now, run_id))

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        """Close a run as finished, stopped or failed (with the user-facing error message)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status}")
        with self._write() as db:
            db.execute("UPDATE runs SET status=?, error=?, progress=NULL, updated=? WHERE id=?",
                       (status, _text(error), time.time(), run_id))

    def event(self, run_id: str, kind: str, message: str, server_round: int | None = None,
              level: str = "info", data: dict | None = None) -> None:
        """Append to the run's event log (round start, hospital failed, stop, ...)."""
        now = time.time()
        with self._write() as db:
            db.execute("INSERT INTO events (run_id, time, round, level, kind, message, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, now, server_round, level, kind, _text(message), _dumps(data) if data else None))
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
                            "fairness": _loads(r["fairness"]), "fit": _loads(r["fit"])} for r in rounds],
                "metrics": [{"round": m["round"], "scope": m["scope"], **_nan(_loads(m["values_json"]))}
                            for m in metrics],
                "events": [{"time": e["time"], "round": e["round"], "level": e["level"], "kind": e["kind"],
                            "message": e["message"], "data": _loads(e["data"])} for e in events],
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
            if row["pid"] and not _alive(row["pid"], row["updated"]):
                try:
                    self.finish(row["id"], "failed", PROCESS_GONE)
                except FedXrayError:  # a full disk or read-only store: still readable as it is
                    pass

    def _run_row(self, row: sqlite3.Row) -> dict:
        out = dict(row)
        try:
            for key in ("config", "data_summary", "progress"):
                out[key] = _loads(out[key])
            if not isinstance(out["config"], dict):
                raise ValueError("config is not a JSON object")
        except (ValueError, TypeError) as exc:
            raise self._damaged_record(out["id"], exc) from exc
        return out

    def _damaged_record(self, run_id: str, exc: Exception) -> FedXrayError:
        return FedXrayError(f"run {run_id}'s record in {self.path} is damaged ({exc}): it cannot be shown, the other "
                            "runs are readable (move the store aside to start afresh)")

    # ------------------------------------------------------------------ checkpoints

    def run_dir(self, run_id: str) -> Path:
        """Folder of a run's checkpoints."""
        return self.home / run_id

    def save_checkpoint(self, run_id: str, name: str, server_round: int, models: dict[str, list]) -> Path:
        """Write weights atomically (temp file, then rename) as ``name``.npz: 'last' or 'best'.

        Parameters
        ----------
        models : dict of str to list of np.ndarray
            ``{'global': weights}`` or, in local mode, one weight list per hospital.
        """
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"{model}/{i}": w for model, weights in models.items() for i, w in enumerate(weights)}
        meta = {"round": server_round, "models": {m: len(w) for m, w in models.items()}}
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = folder / f".{name}.tmp.npz"
        target = folder / f"{name}.npz"
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # never leave half a checkpoint behind
            raise FedXrayError(f"cannot write the '{name}' checkpoint of round {server_round} to {folder} "
                               f"({exc.strerror or exc}): free some space; the run keeps its last completed "
                               "checkpoint and can be resumed") from exc
        return target

    def load_checkpoint(self, run_id: str, name: str = "best") -> tuple[int, dict[str, list]]:
        """(round, models) of a checkpoint; FedXrayError when the run has none yet."""
        path = self.run_dir(run_id) / f"{name}.npz"
        if not path.exists():
            done = self.get_run(run_id)["rounds_done"]
            if not done:
                raise FedXrayError(f"run {run_id} has no '{name}' checkpoint yet: it completed no round")
            raise FedXrayError(f"run {run_id} completed {done} round(s) but its '{name}' checkpoint {path} is missing "
                               "(deleted or moved, or never written): use the other checkpoint, or retrain the run")
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(archive["__meta__"].tobytes().decode())
                models = {m: [archive[f"{m}/{i}"] for i in range(n)] for m, n in meta["models"].items()}
            return int(meta["round"]), models
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise FedXrayError(f"the '{name}' checkpoint {path} of run {run_id} is damaged ({exc}): move it aside; "
                               "the run's other checkpoint still works") from exc


def _nan(values: dict) -> dict:
    return {k: (math.nan if v is None else v) for k, v in values.items()}


def _text(value: str | None) -> str | None:
    """A message SQLite can store: a file name that is not UTF-8 carries lone surrogates."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if value else value


def _alive(pid: int, last_update: float) -> bool:
    """Whether ``pid`` is alive and can still be the process that last updated the run.

    After a kill -9 the number may be reused by an unrelated process (in a container
    pids restart low and are reused quickly): a process started after the run's last
    update cannot be its trainer. A zombie (killed, not yet reaped) is gone too.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = _process_start_time(pid)
    if started is None:  # no /proc (macOS) or a zombie whose stat could not be read: trust kill(pid, 0)
        return True
    state, start_time = started
    return state != "Z" and start_time <= last_update + 1.0  # /proc's boot time has 1 s resolution


def _process_start_time(pid: int) -> tuple[str, float] | None:
    """(state, start time in epoch seconds) of a process, from Linux's /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None
