"""Whether the process recorded as a run's trainer is still that trainer, on this machine."""

from __future__ import annotations

import os
from pathlib import Path

PROCESS_GONE = (
    "the training process ended unexpectedly (killed or crashed); "
    "the last completed round is kept: resume the run to continue"
)


def alive(pid: int, last_update: float) -> bool:
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
    # No /proc (macOS), or a zombie whose stat could not be read: trust kill(pid, 0).
    if started is None:
        return True
    state, start_time = started
    return state != "Z" and start_time <= last_update + 1.0  # /proc's boot time has 1 s resolution


def _process_start_time(pid: int) -> tuple[str, float] | None:
    """(state, start time in epoch seconds) of a process, from Linux's /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None
