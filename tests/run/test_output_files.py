"""`train --json`, `report --csv` and `report --html` write whole files or leave the old ones.

On a real full disk (a small tmpfs; it needs root, and the tests say so and skip without it),
in a real ``python -m fedcore`` process: exit 1 with one line, the old files byte for byte, no
temp file. Written in place, the old file was cut to what fitted.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fedcore import cli
from fedcore.output_files import write_outputs
from fedcore.store import RunStore
from tests.store.test_store_damage import filled_store
from tests.store.test_store_integrity import small_disk

ROOT = Path(__file__).resolve().parents[2]


def fedcore_process(home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "fedcore", "--home", str(home), *argv]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def fill(disk: Path) -> None:
    """Write to ``disk`` until it is full, as a disk shared with other programs fills."""
    with open(disk / "filler", "wb", buffering=0) as filler:
        for block in (65536, 4096, 512, 1):
            try:
                while filler.write(b"\0" * block):
                    pass
            except OSError:
                pass


def assert_environment_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == cli.EXIT_FAILED, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in ("No space left on device", *needles):
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("output", ["--csv", "--html"])
def test_report_outputs_on_a_full_disk_keep_the_old_files(tmp_path, output):
    store, ids = filled_store(tmp_path / "home")
    with small_disk(tmp_path / "disk", "16m") as disk:
        names = ["out_table1.csv", "out_table2.csv", "out_rounds.csv"]
        if output == "--html":
            names = ["report.html"]
        old = {name: f"last week's {name}\n".encode() for name in names}
        for name, content in old.items():
            (disk / name).write_bytes(content)
        fill(disk)
        target = disk / ("out" if output == "--csv" else "report.html")
        done = fedcore_process(store.home, "report", ids[0], output, str(target))
        assert_environment_error(done, f"cannot write {target}")
        assert {p.name: p.read_bytes() for p in disk.iterdir() if p.name != "filler"} == old
        (disk / "filler").unlink()
        done = fedcore_process(store.home, "report", ids[0], output, str(target))
        assert done.returncode == 0, done.stderr
        assert all((disk / name).read_bytes() != old[name] for name in names)
        assert sorted(p.name for p in disk.iterdir()) == sorted(names), "no temp file"


def test_train_json_on_a_full_disk_keeps_the_old_file_and_the_run(tmp_path):
    home = tmp_path / "home"
    with small_disk(tmp_path / "disk", "16m") as disk:
        result = disk / "result.json"
        result.write_text('{"result": "the run before"}')
        fill(disk)
        argv = ["train", "--rounds", "1", "--max-per-hospital", "20", "--json", str(result)]
        done = fedcore_process(home, *argv)
        assert_environment_error(done, f"cannot write {result}", "the run is kept in the store")
        assert result.read_text() == '{"result": "the run before"}'
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "result.json"]
    assert [r["status"] for r in RunStore(home).list_runs()] == ["finished"]


def test_a_link_is_written_through_and_a_device_never_replaced(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    (tmp_path / "link.json").symlink_to(real)
    write_outputs({str(tmp_path / "link.json"): "new", os.devnull: "discarded"})
    assert (tmp_path / "link.json").is_symlink() and real.read_text() == "new"
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode), "/dev/null is still the device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_json_to_stdout_redirected_to_a_file_keeps_the_printed_tables(tmp_path):
    """`train --json /dev/stdout > log`: /dev/stdout leads to the log file, which must not be
    replaced by a new file under the shell's open descriptor."""
    log = tmp_path / "log.txt"
    code = (
        "import sys; from fedcore.output_files import write_outputs; "
        "print('tables', flush=True); write_outputs({'/dev/stdout': 'json'}); print('after')"
    )
    with open(log, "w") as out:
        inode = os.fstat(out.fileno()).st_ino
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=out, check=True)
    assert log.stat().st_ino == inode, "the shell's file, not a new one in its place"
    assert "json" in log.read_text() and "after" in log.read_text()
