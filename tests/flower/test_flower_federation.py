"""`make federation`: a whole loopback federation from the shell script, and nothing left running
after it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fedcore.store import RunStore
from testkit.loopback import REPO, free_port


def session_processes(session: int) -> list[str]:
    """Command lines of the live processes in session ``session`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if entry.name.isdigit() and int(stat[3]) == session and stat[0] != "Z":
                found.append(
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
        except (OSError, IndexError):
            continue
    return found


def test_make_federation_runs_one_round_and_leaves_no_process(tmp_path):
    # Prepare: one small round, the run store and ports of the test's own
    env = {
        **os.environ,
        "ROUNDS": "1",
        "MAX_PER_HOSPITAL": "20",
        "PORT": str(free_port()),
        "FEDCORE_HOME": str(tmp_path / "runs"),
    }

    # Execute: in a session of its own, so that whatever it leaves behind can be found
    # (-o: never rebuild the virtual environment from here)
    make = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "federation"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out, _ = make.communicate(timeout=300)

    # Assert: the run finished, and no process of the session is left
    assert make.returncode == 0, out[-3000:]
    assert session_processes(make.pid) == []
    assert "federation stopped; no process left running" in out
    (run,) = RunStore(tmp_path / "runs").list_runs()
    assert run["status"] == "finished" and run["config"]["extra"]["runtime"] == "flower"
