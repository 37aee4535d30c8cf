"""Start, stop and resume training runs as child processes (what the dashboard's buttons do).

The dashboard never trains in its own process: Start runs ``python -m fedcore train
--run-id ID`` as a child, so the web server stays responsive and the run survives a
reloaded page. The run row is created here first, so the caller knows the id at once.
Stop is SIGTERM: the engine ends after the current step with status 'stopped'.

One run trains at a time per store: a second Start (another tab, a double click, a
run started from the CLI) is refused with a message saying which run is going.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fedcore import serving
from fedcore.config import EMBEDDED, RunConfig
from fedcore.errors import FedXrayError
from fedcore.store import RunStore

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_NAME = "train.log"

# Children started by this process, by (store folder, run id), with when they were
# started; kept so that they are reaped (a zombie still answers kill(pid, 0), which
# would keep its run 'running' forever).
_children: dict[tuple[str, str], tuple[subprocess.Popen, float]] = {}
# Held from the "is anything running?" check to the child being registered, so that two
# browser tabs clicking Start at once cannot both pass the check.
_lock = threading.Lock()


def train_flags(config: RunConfig) -> list[str]:
    """The ``python -m fedcore train`` flags that reproduce ``config``.

    Parameters
    ----------
    config : RunConfig

    Returns
    -------
    list of str
    """
    flags = [
        "--rounds", str(config.rounds), "--local-epochs", str(config.local_epochs),
        "--hospitals", str(config.hospitals), "--backbone", config.backbone, "--weights", config.weights,
        "--data", config.data, "--partition", config.partition, "--alpha", repr(config.alpha),
        "--batch-size", str(config.batch_size), "--threshold", repr(config.threshold),
        "--lr-schedule", config.lr_schedule,
        "--mode", config.mode, "--strategy", config.strategy, "--seed", str(config.seed),
    ]
    if config.image_size is not None:
        flags += ["--image-size", str(config.image_size)]
    if config.max_per_hospital is not None:
        flags += ["--max-per-hospital", str(config.max_per_hospital)]
    if config.learning_rate is not None:
        flags += ["--learning-rate", repr(config.learning_rate)]
    if config.acquisition_shift:
        flags.append("--acquisition-shift")
    if not config.class_weighting:
        flags.append("--no-class-weighting")
    if config.dp != "off":
        flags += ["--dp", config.dp, "--dp-noise-multiplier", repr(config.dp_noise_multiplier),
                  "--dp-clip-norm", repr(config.dp_clip_norm), "--dp-delta", repr(config.dp_delta)]
        if config.dp_target_epsilon is not None:
            flags += ["--dp-target-epsilon", repr(config.dp_target_epsilon)]
    if config.audit_every:
        flags += ["--audit-every", str(config.audit_every)]
    return flags


def check_data(data: str) -> None:
    """Refuse a data setting that cannot train, before any process starts.

    Parameters
    ----------
    data : str
        ``embedded``, a folder, or a .npz path, as typed by the user.

    Raises
    ------
    FedXrayError
        For an empty setting, a path outside FEDXRAY_DATA_ROOT when the dashboard is
        exposed (fedcore.serving), a missing path, an empty folder, or a folder without
        the HOSPITAL/ and GLOBAL_TEST_DATASET/ sub-folders.
    """
    if data == EMBEDDED:
        return
    if not data.strip():
        raise FedXrayError("the data folder path is empty: type a folder path, or choose the embedded data")
    serving.check_data_root(data)
    path = Path(data.strip()).expanduser()
    if not path.exists():
        raise FedXrayError(f"'{path}' does not exist: give a folder in the ROOT/HOSPITAL/hospital_k/"
                           "{train,val,test} layout, or a MedMNIST-format .npz")
    if path.is_dir():
        names = {p.name.upper() for p in path.iterdir()}
        if not names:
            raise FedXrayError(f"the folder '{path}' is empty: it needs HOSPITAL/hospital_k/{{train,val,test}}/"
                               "{NORMAL,PNEUMONIA}/ and GLOBAL_TEST_DATASET/{NORMAL,PNEUMONIA}/")
        missing = [n for n in ("HOSPITAL", "GLOBAL_TEST_DATASET") if n not in names]
        if missing:
            raise FedXrayError(f"the folder '{path}' has no {' or '.join(m + '/' for m in missing)} sub-folder: "
                               "it needs HOSPITAL/hospital_k/{train,val,test}/ and GLOBAL_TEST_DATASET/")
    elif path.suffix.lower() != ".npz":
        raise FedXrayError(f"'{path}' is a file but not a .npz: give a folder or a MedMNIST-format .npz")


def active_run(store: RunStore) -> dict | None:
    """The run now training in this store (from here or the CLI), or None.

    Reaps finished children first, so a run whose process died is reported failed
    rather than running.
    """
    reap(store)
    running = [r for r in store.list_runs() if r["status"] == "running"]
    if running:
        return running[0]
    for run_id, _child, _started in _own_children(store):
        if _starting(store, run_id):
            return store.get_run(run_id)
    return None


def start(config: RunConfig, store: RunStore) -> str:
    """Validate ``config`` and start training it in a child process.

    Parameters
    ----------
    config : RunConfig
    store : RunStore
        The child writes to the same store (``--home``).

    Returns
    -------
    str
        The new run's id, known before the child has imported anything.

    Raises
    ------
    FedXrayError
        For a config that cannot run, or while another run is training.
    """
    config.validate()
    check_data(config.data)
    with _lock:
        _refuse_if_busy(store)
        run_id = store.create_run(config.to_dict(), config.rounds, config.mode)
        store.event(run_id, "launched", "started from the dashboard")
        try:
            _spawn(store, run_id, ["train", "--run-id", run_id])
        except OSError as exc:
            store.finish(run_id, "failed", f"could not start the training process ({exc})")
            raise FedXrayError(f"could not start the training process ({exc})") from exc
    return run_id


def resume(store: RunStore, run_id: str) -> None:
    """Continue a stopped or failed run from its last completed round, in a child process.

    Raises
    ------
    FedXrayError
        When the run finished, or while a run is training.
    """
    record = store.get_run(run_id)
    if record["status"] == "finished":
        raise FedXrayError(f"run {run_id} already finished all {record['rounds_total']} rounds")
    with _lock:
        _refuse_if_busy(store)
        _spawn(store, run_id, ["train", "--resume", run_id])


def stop(store: RunStore, run_id: str) -> bool:
    """Ask a running run to stop after its current step (SIGTERM to its process).

    Returns
    -------
    bool
        True when a signal was sent; False when the run was not running.
    """
    record = store.get_run(run_id)
    starting = _starting(store, run_id)
    if record["status"] != "running" and not starting:
        return False
    pid = _children[(str(store.home), run_id)][0].pid if starting else record["pid"]
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        reap(store)
        return False
    return True


def reap(store: RunStore) -> None:
    """Collect exited children; a child that died before closing its run marks it failed."""
    for run_id, child, _started in _own_children(store):
        code = child.poll()
        if code is None:
            continue
        del _children[(str(store.home), run_id)]
        try:
            record = store.get_run(run_id)
        except FedXrayError:  # deleted meanwhile
            continue
        if record["status"] == "running":
            store.finish(run_id, "failed", _exit_reason(store, run_id, code))


def log_path(store: RunStore, run_id: str) -> Path:
    """Where a dashboard-started run's output (stdout and stderr) is written."""
    return store.run_dir(run_id) / LOG_NAME


def _starting(store: RunStore, run_id: str) -> bool:
    """A resumed child that is alive but has not yet marked its run running (nothing written since it started)."""
    child, started = _children.get((str(store.home), run_id), (None, 0.0))
    return child is not None and child.poll() is None and store.get_run(run_id)["updated"] < started


def _own_children(store: RunStore) -> list[tuple[str, subprocess.Popen, float]]:
    home = str(store.home)
    return [(run_id, child, started) for (h, run_id), (child, started) in list(_children.items()) if h == home]


def _refuse_if_busy(store: RunStore) -> None:
    busy = active_run(store)
    if busy is not None:
        progress = f"round {busy['rounds_done']}/{busy['rounds_total']} done"
        raise FedXrayError(f"run {busy['id']} is still training ({progress}): stop it or wait for it "
                           "to finish before starting another; one run trains at a time")


def _spawn(store: RunStore, run_id: str, args: list[str]) -> None:
    log = log_path(store, run_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log, "ab") as out:
        child = subprocess.Popen([sys.executable, "-m", "fedcore", "--home", str(store.home), *args],
                                 cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT)
    store.set_pid(run_id, child.pid)
    _children[(str(store.home), run_id)] = (child, time.time())


def _exit_reason(store: RunStore, run_id: str, code: int) -> str:
    try:
        lines = log_path(store, run_id).read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1]
    if code < 0:
        return (f"the training process was killed ({signal.Signals(-code).name}); "
                "the last completed round is kept: resume the run to continue")
    return f"the training process exited with code {code} before finishing; see {log_path(store, run_id)}"
