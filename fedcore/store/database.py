"""The run store's SQLite file: schema, connections, what its failures mean, JSON columns.

One short-lived connection per operation in WAL mode: readers in other processes run
beside the writer without blocking it. A store the process cannot write (a read-only
folder, file or file system) is opened read-only: reading works, every write says why it
cannot.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np

from fedcore.errors import FedXrayError

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


STATUSES = ("running", "finished", "stopped", "failed")


def default_home() -> Path:
    """FEDCORE_HOME, or ./runs when it is unset or empty (empty never means the current folder)."""
    return Path(os.environ.get("FEDCORE_HOME") or "runs")


def dumps(value) -> str:
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


def loads(text):
    """The value of a JSON column; None for an empty one."""
    return json.loads(text) if text else None


def nan_for_null(values: dict) -> dict:
    """A metrics row as written: the nulls :func:`dumps` wrote for NaN are NaN again."""
    return {k: (math.nan if v is None else v) for k, v in values.items()}


def storable_text(value: str | None) -> str | None:
    """A message SQLite can store: a file name that is not UTF-8 carries lone surrogates."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if value else value


class Database:
    """The SQLite file under ``home``, created with its schema if missing; RunStore's base.

    ``_connect`` and ``_write`` are for the subclass: every operation opens its own
    connection, and every write is one transaction.

    Parameters
    ----------
    home : str or Path, optional
        Data directory; default (also for '') :func:`default_home`. Created if missing.
    """

    def __init__(self, home: str | Path | None = None):
        self.home = Path(home) if home else default_home()  # '' is unset, not the current folder
        self.path = self.home / "fedxray.sqlite"
        # Why this process cannot write the store, or None when it can.
        self.read_only = _unwritable(self.home, self.path)
        if self.read_only:
            self._uri = self._read_only_uri()
            return
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FedXrayError(
                f"cannot create the run store folder {self.home} ({exc.strerror}): "
                "set FEDCORE_HOME to a writable folder"
            ) from exc
        self._uri = None
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self):
        # One short-lived connection per operation: safe from any thread or process.
        try:
            db = sqlite3.connect(
                self._uri or self.path,
                timeout=30.0,
                isolation_level=None,
                uri=self._uri is not None,
            )
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA foreign_keys=ON")
                db.execute("PRAGMA synchronous=NORMAL")
                yield db
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            raise self._database_error(exc) from exc

    def _read_only_uri(self) -> str:
        """A read-only connection's URI. A WAL store needs its -shm file, which a read-only folder
        without one cannot get: the store is then opened as immutable (nobody can write it)."""
        if not self.path.is_file():
            raise FedXrayError(
                f"the run store folder {self.home} holds no run store and cannot be written "
                f"({self.read_only}): set FEDCORE_HOME to a writable folder"
            )
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        probe = sqlite3.connect(uri, uri=True)
        try:
            probe.execute("SELECT 1 FROM sqlite_master")
            return uri
        except sqlite3.OperationalError:
            return uri + "&immutable=1"
        finally:
            probe.close()

    def refuse_writes(self) -> None:
        """Raise FedXrayError saying why when this store cannot be written."""
        if self.read_only:
            raise FedXrayError(
                f"the run store {self.path} is read-only ({self.read_only}): its runs can be "
                "read, not changed; to train, resume, stop or delete runs, make it writable "
                "or copy the folder somewhere writable and point FEDCORE_HOME (or --home) at it"
            )

    @contextmanager
    def _write(self):
        self.refuse_writes()
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
        """What a user can do about an SQLite failure: a full disk, a busy store, a damaged file."""
        text = str(exc)
        if "full" in text:
            return FedXrayError(
                f"the disk holding the run store {self.path} is full ({text}): free some space; "
                "a run that was training keeps its last completed round and can be resumed"
            )
        if "readonly" in text:
            return FedXrayError(
                f"the run store {self.path} cannot be written ({text}): its runs can be read, "
                "not changed; make it writable, or point FEDCORE_HOME (or --home) at a copy"
            )
        if "locked" in text or "busy" in text:
            return FedXrayError(
                f"the run store {self.path} stayed busy for 30 s ({text}): try again"
            )
        if self.path.is_dir():
            return FedXrayError(
                f"the run store {self.path} is a folder, not a database: move it aside (e.g. "
                f"`mv {self.path} {self.path}.folder`) and the next command starts an empty store"
            )
        return FedXrayError(
            f"the run store {self.path} is damaged or not a database ({text}): move it aside "
            f"(with its -wal and -shm files), e.g. `mv {self.path} {self.path}.damaged`, and the "
            "next command starts an empty store; the checkpoints under "
            f"{self.home} are left as they are"
        )


def _unwritable(home: Path, path: Path) -> str | None:
    """Why this process cannot write the store's folder or file (None when it can, or when the
    folder is yet to be made)."""
    target = path if path.exists() else home
    if not target.exists() or (os.access(target, os.W_OK) and os.access(home, os.W_OK)):
        return None
    try:
        on_read_only_system = bool(os.statvfs(home).f_flag & os.ST_RDONLY)
    except OSError:
        on_read_only_system = False
    return "a read-only file system" if on_read_only_system else "no write permission"
