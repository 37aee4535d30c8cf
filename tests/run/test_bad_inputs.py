"""Bad input from a careful tester (issue 11): one clear line, nothing half-done, no quiet wrong
answer.

Real files, real processes and the real CLI; the store damage kinds are in
test_store_damage.py and the decompression bombs in test_memory_bounds.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fedcore import cli, data
from fedcore.config.run_config import RunConfig
from fedcore.config.settings import settings
from fedcore.errors import FedXrayError
from fedcore.imaging.budget import MAX_UPLOAD_BYTES
from fedcore.imaging.decode import decode_image
from fedcore.store import PROCESS_GONE, RunStore, default_home
from tests.store.test_store_damage import assert_one_error_line, filled_store, run_cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(data.SAMPLES_DIR.glob("*/*.jpeg"))


# ----------------------------------------------------------------------------- CLI arguments and
# outputs


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["report", "RUN", "--round", "abc"], "--round must be"),
        (["report", "RUN", "--round", "0"], "--round must be"),
        (["report", "RUN", "--csv", "/nonexistent/x"], "/nonexistent does not exist"),
        (["train", "--json", "/tmp"], "/tmp is a folder"),
        (["train", "--json", "/nonexistent/x.json"], "/nonexistent does not exist"),
    ],
)
def test_bad_arguments_are_one_line_before_any_work(tmp_path, capsys, argv, needle):
    store, ids = filled_store(tmp_path / "home")
    argv = [ids[0] if a == "RUN" else a for a in argv]
    code, out, err = run_cli(capsys, "--home", str(store.home), *argv)
    assert_one_error_line(code, err, needle)
    assert out == "", "nothing printed, nothing trained"
    assert len(store.list_runs()) == 3, "no run row was created"


def test_a_non_utf8_file_name_prints_on_a_utf8_terminal(tmp_path):
    store, ids = filled_store(tmp_path / "home")
    normal = tmp_path / "test" / "NORMAL"
    normal.mkdir(parents=True)
    os.symlink(SAMPLES[0], normal / "good.jpeg")
    with open(os.fsencode(normal) + b"/broken\xff.png", "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n garbage")
    skipped: list = []
    data.read_class_folders(tmp_path / "test", 28, skipped)
    assert len(skipped) == 1 and "\udcff" in skipped[0][0]
    store.event(ids[0], "skipped_files", "1 file skipped", level="warning", data={"files": skipped})
    store.finish(ids[0], "finished", f"note on {skipped[0][0]}")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "fedcore", "--home", str(store.home), "report", ids[0]],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"broken\\udcff.png" in done.stdout or b"broken\\xff.png" in done.stdout


def test_an_empty_fedcore_home_is_unset_not_the_current_folder(monkeypatch):
    monkeypatch.setenv("FEDCORE_HOME", "")
    assert default_home() == Path("runs")


INTEGER_SETTINGS = [s for s in settings(RunConfig) if s.kind is int]


@pytest.mark.parametrize("setting", INTEGER_SETTINGS, ids=lambda s: s.flag)
def test_every_integer_setting_has_a_range_and_a_huge_value_is_one_line(tmp_path, capsys, setting):
    assert setting.maximum is not None, f"{setting.flag} has no maximum"
    store = RunStore(tmp_path / "home")
    huge = "99999999999999999999999"  # past SQLite's integers: a traceback before
    code, out, err = run_cli(capsys, "--home", str(store.home), "train", setting.flag, huge)
    assert_one_error_line(code, err, f"must be {setting.bounds_text()} (got {huge})")
    assert out == "" and store.list_runs() == []


def test_krum_beyond_the_hospitals_stops_before_a_run_exists(tmp_path, capsys):
    store = RunStore(tmp_path / "home")
    argv = ["--home", str(store.home), "train", "--strategy", "krum", "--krum-byzantine", "10"]
    code, out, err = run_cli(capsys, *argv)
    assert_one_error_line(code, err, "needs at least 13 hospitals training each round", "has 3")
    assert out == "" and store.list_runs() == []


def test_krum_beyond_a_folders_hospitals_stops_before_a_run_exists(tmp_path, capsys):
    root = tmp_path / "data"
    for hospital in ("hospital_1", "hospital_2"):
        for split in ("train", "val", "test"):
            copy_samples(root / "HOSPITAL" / hospital / split)
    copy_samples(root / "GLOBAL_TEST_DATASET")
    store = RunStore(tmp_path / "home")
    argv = ["--home", str(store.home), "train", "--data", str(root), "--strategy", "krum"]
    # --hospitals says nothing of a folder's hospitals: the two it brings are counted.
    code, out, err = run_cli(capsys, *argv, "--krum-byzantine", "0", "--hospitals", "5")
    assert_one_error_line(code, err, "needs at least 3 hospitals training each round", "has 2")
    assert store.list_runs() == []


def copy_samples(folder: Path) -> None:
    for cls in ("NORMAL", "PNEUMONIA"):
        (folder / cls).mkdir(parents=True)
        shutil.copy(next(p for p in SAMPLES if p.parent.name == cls), folder / cls / "x.jpeg")


def test_a_full_disk_is_the_environment_exit_status_1(tmp_path, capsys):
    store = RunStore(tmp_path / "home")
    argv = ["--home", str(store.home), "train", "--rounds", "1", "--max-per-hospital", "20"]
    # /dev/full answers every write with ENOSPC, as a full disk does.
    code, _, err = run_cli(capsys, *argv, "--json", "/dev/full")
    assert code == cli.EXIT_FAILED == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot write /dev/full (No space left on device)" in lines[0]
    assert [r["status"] for r in store.list_runs()] == ["finished"], "the run itself is kept"


def test_the_readme_states_the_rule_and_each_exit_status():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("**Bad input.**") : text.index("### Serving the dashboard")]
    statuses = {
        cli.EXIT_USER_ERROR: "bad input",
        cli.EXIT_STOPPED: "stopped",
        cli.EXIT_FAILED: "a failed run or the environment",
    }
    assert "one line" in section and "names the file or setting" in section
    for status, kind in statuses.items():
        assert f"`{status}` {kind}" in section, (status, kind)
    for budget in ("134 MB", "1 GB", "2 GB"):
        assert budget in section, budget


def test_an_unreadable_upload_names_no_exception_class():
    with pytest.raises(FedXrayError) as caught:
        decode_image(b"these are not pixels, just text", 28, "notes.png")
    assert "notes.png is not a readable image" in str(caught.value)
    assert "Error" not in str(caught.value)


# ----------------------------------------------------------------------------- .npz contents


def write_npz(path: Path, **overrides) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 40), ("val", 10), ("test", 10)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).astype(np.uint8).reshape(-1, 1)
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "make, needle",
    [
        (
            lambda p: write_npz(p, train_labels=np.array([0, 1, 256, 257] * 10)),
            "256, 257: labels must be 0",
        ),
        (
            lambda p: write_npz(p, train_labels=np.array([0.0, 1.0, 0.9, 1.0] * 10)),
            "0.9: labels must be 0",
        ),
        (
            lambda p: write_npz(p, train_labels=np.array([0.0, np.nan] * 20)),
            "nan: labels must be 0",
        ),
        (
            lambda p: write_npz(p, train_labels=np.array(["0", "1"] * 20)),
            "labels must be the integers 0 or 1",
        ),
        (
            lambda p: write_npz(p, train_images=np.array([["x"] * 28] * 40)),
            "images must be numbers",
        ),
        (lambda p: write_npz(p, train_images=np.zeros((40, 0, 0), np.uint8)), "every side above 0"),
        (lambda p: write_npz(p, train_images=np.full((40, 28, 28), np.nan)), "NaN or infinite"),
        (
            lambda p: write_npz(p, train_images=np.full((40, 28, 28), -1200, np.int16)),
            "negative values (down to -1200)",
        ),
        (
            lambda p: write_npz(p, train_images=np.array([{"a": 1}] * 40, dtype=object)),
            "cannot be read",
        ),
        (
            lambda p: (
                np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p)
            ),
            "a .npy renamed",
        ),
        (lambda p: p.write_bytes(b""), "empty, truncated"),
        (lambda p: p.write_bytes(write_npz(p).read_bytes()[:3000]), "empty, truncated"),
    ],
)
def test_a_bad_npz_is_one_clear_line(tmp_path, capsys, make, needle):
    path = tmp_path / "mine.npz"
    make(path)
    with pytest.raises(FedXrayError) as caught:
        data.read_npz(path, 28)
    assert needle in str(caught.value) and str(path) in str(caught.value)
    # The same through the CLI: one error line, not "internal error (...)".
    code, _, err = run_cli(
        capsys, "export-hospitals", "--data", str(path), "--out", str(tmp_path / "out")
    )
    assert_one_error_line(code, err, needle)


def test_a_one_class_global_test_set_is_refused_up_front(tmp_path):
    path = write_npz(tmp_path / "one.npz", test_labels=np.zeros(10, np.uint8))
    with pytest.raises(FedXrayError, match="holds no PNEUMONIA image .*AUROC"):
        data.load_federation(RunConfig(data=str(path), hospitals=2))


# ----------------------------------------------------------------------------- folders


def test_symlink_problems_are_listed_with_the_other_skipped_files(tmp_path):
    normal = tmp_path / "test" / "NORMAL"
    normal.mkdir(parents=True)
    shutil.copy(SAMPLES[0], normal / "good.jpeg")
    (normal / "dangling.png").symlink_to(tmp_path / "gone.png")
    (normal / "loop.png").symlink_to(normal / "loop.png")
    (normal / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "test" / "stray.png").symlink_to(tmp_path / "gone.png")
    skipped: list = []
    split = data.read_class_folders(tmp_path / "test", 28, skipped)
    reasons = {Path(p).name: r for p, r in skipped}
    assert len(split) == 1
    assert "dangling" in reasons["dangling.png"] and "loop" in reasons["loop.png"]
    assert "not followed" in reasons["elsewhere"] and "dangling" in reasons["stray.png"]


def test_a_one_class_global_test_folder_is_refused(tmp_path):
    for split in ("train", "val", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            folder = tmp_path / "HOSPITAL" / "hospital_1" / split / cls
            folder.mkdir(parents=True)
            shutil.copy(next(p for p in SAMPLES if p.parent.name == cls), folder / "x.jpeg")
    (tmp_path / "GLOBAL_TEST_DATASET" / "NORMAL").mkdir(parents=True)
    shutil.copy(SAMPLES[0], tmp_path / "GLOBAL_TEST_DATASET" / "NORMAL" / "x.jpeg")
    with pytest.raises(FedXrayError, match="global test set .* holds no PNEUMONIA image"):
        data.load_federation(RunConfig(data=str(tmp_path)))


# ----------------------------------------------------------------------------- uploads and the
# dashboard's settings


def test_an_upload_over_25_mb_is_refused_before_decoding():
    big = b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD_BYTES)
    with pytest.raises(FedXrayError, match="more than the 26 MB"):
        decode_image(big, 28, "big.png", MAX_UPLOAD_BYTES)


def test_the_dashboard_listens_locally_and_hides_error_details():
    from streamlit.config import ShowErrorDetailsConfigOptions

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_UPLOAD_BYTES
    assert config["client"]["showErrorDetails"] == ShowErrorDetailsConfigOptions.NONE.value


# ----------------------------------------------------------------------------- a full disk and a
# killed process


def test_a_full_disk_keeps_the_last_checkpoint_and_leaves_no_temp_file(tmp_path):
    store, ids = filled_store(tmp_path / "home")
    folder = store.run_dir(ids[0])
    before = (folder / "best.npz").read_bytes()
    # /dev/full answers every write with ENOSPC, as a full disk does.
    (folder / ".best.tmp.npz").symlink_to("/dev/full")
    with pytest.raises(
        FedXrayError, match="cannot write the 'best' checkpoint of round 3 .*resumed"
    ):
        store.save_checkpoint(ids[0], "best", 3, {"global": [np.ones((300, 300), np.float32)]})
    assert not (folder / ".best.tmp.npz").exists() and not (folder / ".best.tmp.npz").is_symlink()
    assert (folder / "best.npz").read_bytes() == before


def test_a_run_whose_process_was_killed_can_be_resumed_straight_away(store):
    run_id = store.create_run(RunConfig().to_dict(), 2, "federated")
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    store.set_pid(run_id, trainer.pid)
    assert store.get_run(run_id)["status"] == "running"
    os.kill(trainer.pid, signal.SIGKILL)  # not reaped yet: a zombie still answers kill(pid, 0)
    time.sleep(0.2)
    record = store.get_run(run_id)
    assert (record["status"], record["error"]) == ("failed", PROCESS_GONE)
    trainer.wait()


def test_a_pid_reused_by_another_process_is_not_the_run(store):
    run_id = store.create_run(RunConfig().to_dict(), 2, "federated")
    # The unrelated process starts well after the run's last update: more than the 1 s the
    # check allows plus the up to 1 s /proc's whole-second boot time can read a start early.
    time.sleep(2.5)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with store._write() as db:  # the dead trainer's pid, now the stranger's
            db.execute("UPDATE runs SET pid=?, updated=updated WHERE id=?", (stranger.pid, run_id))
        assert store.get_run(run_id)["status"] == "failed"
    finally:
        stranger.kill()
        stranger.wait()


def test_a_full_disk_mid_run_fails_the_run_and_records_nothing_of_the_round(store):
    from fedcore.run import engine
    from tests.conftest import tiny_config

    config = tiny_config(max_per_hospital=40)
    run_id = store.create_run(config.to_dict(), config.rounds, config.mode)
    store.run_dir(run_id).mkdir(parents=True)
    (store.run_dir(run_id) / ".best.tmp.npz").symlink_to(
        "/dev/full"
    )  # round 1's 'best' hits a full disk
    result = engine.run(config, store, run_id=run_id, log=lambda line: None)
    record = store.get_run(run_id)
    assert (result.status, record["status"], record["rounds_done"]) == ("failed", "failed", 0)
    assert "cannot write the 'best' checkpoint" in record["error"] and "resumed" in record["error"]
    # Round 1 is kept whole or not at all: no checkpoint of it, no temp file; the database
    # says the same (tests/store/test_store_integrity.py has the other checkpoints).
    assert list(store.run_dir(run_id).iterdir()) == []
