"""Reading runs back: the list, one run, and a whole run's snapshot read in one transaction.

A run whose record holds what the store never writes (a round count that is not a number, a
setting of the wrong type, completed rounds without their rows) is reported as damaged, that
run alone: the others stay readable.
"""

from __future__ import annotations

import sqlite3

from fedcore.config.run_config import RunConfig
from fedcore.config.settings import settings
from fedcore.errors import FedXrayError
from fedcore.store.database import STATUSES, loads, nan_for_null
from fedcore.store.liveness import PROCESS_GONE, alive

# The runs table's typed columns: the types each may hold (None: may be empty).
COLUMNS = {
    "created": (int, float),
    "updated": (int, float),
    "mode": (str,),
    "rounds_total": (int,),
    "rounds_done": (int,),
    "best_round": (int, None),
    "pid": (int, None),
}
# Each run setting's type, and whether it may be empty, as RunConfig declares it.
SETTING_TYPES = {s.name: (s.kind, s.optional) for s in settings(RunConfig)}


class RunReader:
    """The reading half of :class:`fedcore.store.RunStore` (it supplies ``_connect``, ``path``
    and ``reconcile``)."""

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
            raise FedXrayError(
                f"no run '{run_id}' in {self.path}: `python -m fedcore runs` lists them"
            )
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
        return self.look(run_id)[1]

    def look(self, run_id: str, known: tuple | None = None) -> tuple[dict, dict | None]:
        """What a live view polls, in one connection and no write: the run as it stands (a
        'running' run whose process is gone reads as failed; the next full read records it),
        and its :meth:`snapshot` too unless the run's ``(rounds_done, status)`` is ``known``
        (the caller already holds that version's), else None."""
        with self._connect() as db:
            db.execute("BEGIN")
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                db.execute("COMMIT")
                raise FedXrayError(f"no run '{run_id}' in {self.path}")
            run = _as_seen_now(self._run_row(row))
            tables = None
            if (run["rounds_done"], run["status"]) != known:
                tables = _run_tables(db, run_id)
            db.execute("COMMIT")
        return run, None if tables is None else self._snapshot(run, *tables)

    def _snapshot(self, record: dict, rounds: list, metrics: list, events: list) -> dict:
        problem = _rounds_problem(record["rounds_done"], rounds, metrics)
        if problem:
            raise self._damaged_record(record["id"], problem)
        try:
            return {
                "run": record,
                "rounds": [
                    {
                        "round": r["round"],
                        "seconds": r["seconds"],
                        "finished": r["finished"],
                        "fairness": loads(r["fairness"]),
                        "fit": loads(r["fit"]),
                    }
                    for r in rounds
                ],
                "metrics": [
                    {
                        "round": m["round"],
                        "scope": m["scope"],
                        **nan_for_null(loads(m["values_json"])),
                    }
                    for m in metrics
                ],
                "events": [
                    {
                        "time": e["time"],
                        "round": e["round"],
                        "level": e["level"],
                        "kind": e["kind"],
                        "message": e["message"],
                        "data": loads(e["data"]),
                    }
                    for e in events
                ],
            }
        except (ValueError, TypeError, AttributeError) as exc:
            raise self._damaged_record(record["id"], exc) from exc

    def _run_row(self, row: sqlite3.Row) -> dict:
        out = dict(row)
        try:
            for key in ("config", "data_summary", "progress"):
                out[key] = loads(out[key])
            if not isinstance(out["config"], dict):
                raise ValueError("config is not a JSON object")
        except (ValueError, TypeError) as exc:
            raise self._damaged_record(out["id"], exc) from exc
        problem = _record_problem(out)
        if problem:
            raise self._damaged_record(out["id"], problem)
        return out

    def _damaged_record(self, run_id: str, why: Exception | str) -> FedXrayError:
        return FedXrayError(
            f"run {run_id}'s record in {self.path} is damaged ({why}): it cannot be shown, "
            "the other runs are readable (move the store aside to start afresh)"
        )


def _run_tables(db, run_id: str) -> tuple[list, list, list]:
    """A run's rounds, metrics and events rows, in the caller's transaction."""
    return tuple(
        db.execute(f"SELECT * FROM {table} WHERE run_id=? ORDER BY {order}", (run_id,)).fetchall()
        for table, order in (("rounds", "round"), ("metrics", "round, scope"), ("events", "id"))
    )


def _as_seen_now(run: dict) -> dict:
    """A 'running' run whose process is gone reads as failed (the next full read records it)."""
    if run["status"] == "running" and run["pid"] and not alive(run["pid"], run["updated"]):
        return run | {"status": "failed", "error": PROCESS_GONE}
    return run


def _record_problem(record: dict) -> str | None:
    """What in a run's record the store cannot have written, or None."""
    for column, types in COLUMNS.items():
        value = record[column]
        if value is None and None in types:
            continue
        if isinstance(value, bool) or not isinstance(value, tuple(t for t in types if t)):
            return f"its {column} is {value!r}, not {_type_words(types[0])}"
    if record["status"] not in STATUSES:
        return f"its status is {record['status']!r}, not one of {', '.join(STATUSES)}"
    if not 0 <= record["rounds_done"] <= record["rounds_total"]:
        return f"it lists {record['rounds_done']} of {record['rounds_total']} rounds done"
    for name, value in record["config"].items():
        kind, optional = SETTING_TYPES.get(name, (None, True))
        if kind is None or (value is None and optional):
            continue
        fits = (int, float) if kind is float else (kind,)
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, fits):
            return f"its setting {name} is {value!r}, not {_type_words(kind)}"
    return None


def _rounds_problem(done: int, rounds: list, metrics: list) -> str | None:
    """What is missing of the rounds a run lists as completed, or None."""
    missing = sorted(set(range(1, done + 1)) - {r["round"] for r in rounds})
    if missing:
        return f"it lists {done} completed round(s) but holds no record of round(s) {missing}"
    if done and not any(m["round"] == done for m in metrics):
        return f"it lists {done} completed round(s) but holds no metrics for round {done}"
    return None


def _type_words(kind: type) -> str:
    return {str: "text", bool: "on or off", int: "a whole number"}.get(kind, "a number")
