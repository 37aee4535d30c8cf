"""A ``python -m fedcore`` command as a child of the web server, and the one line it ends with.

The dashboard's training runs, privacy curves and membership audits start this way: never in
the web server's own process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from fedcore.store import RunStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def spawn_cli(store: RunStore, args: list[str], log: Path) -> subprocess.Popen:
    """``python -m fedcore --home STORE ARGS`` as a child, its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "fedcore", "--home", str(store.home), *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def last_error(log: Path) -> str | None:
    """The last ``error:`` line (a CLI user error) a child wrote to ``log``, or None."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return errors[-1] if errors else None


def exit_reason(log: Path, code: int) -> str:
    """Why a training child that exited with ``code`` left its run unfinished, in one line."""
    error = last_error(log)
    if error:
        return error
    if code < 0:
        return (
            f"the training process was killed ({signal.Signals(-code).name}); "
            "the last completed round is kept: resume the run to continue"
        )
    return f"the training process exited with code {code} before finishing; see the run's log"
