"""Start, stop and resume training runs as child processes (what the dashboard's buttons do).

The dashboard never trains in its own process: Start runs ``python -m fedcore train
--run-id ID`` as a child, so the web server stays responsive and the run survives a
reloaded page. The run row is created here first, so the caller knows the id at once.
Stop is SIGTERM: the engine ends after the current step with status 'stopped'.

One run trains at a time per store: a second Start (another tab, a double click, a
run started from the CLI, another dashboard on the same store) is refused with a message
saying which run is going. The store enforces it (RunStore.create_run and mark_running);
the lock here only orders this process's own tabs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from fedcore.config.data_check import EMBEDDED
from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.model.weights_file import names_weights_file
from fedcore.run import attack_demo, serving
from fedcore.run.child_process import exit_reason, spawn_cli
from fedcore.server.resume import refuse_resume
from fedcore.store import RunStore
from fedcore.store.runs import still_training

LOG_NAME = "train.log"

# Children started by this process, by (store folder, run id), with when they were
# started; kept so that they are reaped (a zombie still answers kill(pid, 0), which
# would keep its run 'running' forever).
_children: dict[tuple[str, str], tuple[subprocess.Popen, float]] = {}
# Privacy-curve children (``privacy-curve --like RUN``) by store folder: each creates and trains
# its runs one after another, so it is not tied to one run id.
_curves: dict[str, subprocess.Popen] = {}
# Held from the "is anything running?" check to the child being registered, so that two
# browser tabs clicking Start at once cannot both pass the check.
_lock = threading.Lock()


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
        For a config that cannot run (a ``weights`` file that is not the backbone's
        included: before the run row exists), a data path outside FEDXRAY_DATA_ROOT while
        the dashboard is exposed (checked first, so that a visitor learns nothing about
        which server paths exist), or while another run is training.
    """
    if config.data != EMBEDDED:
        serving.check_data_root(config.data)
    config.validate()
    if names_weights_file(config):
        # Keras is imported for this alone: a file that is not the backbone's leaves no run behind.
        from fedcore.model.networks import check_backbone_weights

        check_backbone_weights(config)
    return _launch(
        store, lambda: store.create_run(config.to_dict(), config.rounds, config.mode), "train"
    )


def start_attack_demo(store: RunStore) -> str:
    """Start the attack demo (fedcore.run.attack_demo) in a child process; the first run's id (the
    child creates the second when the first finishes). FedXrayError while another run trains."""
    return _launch(store, lambda: attack_demo.open_undefended(store), "attack-demo")


def _launch(store: RunStore, create, command: str) -> str:
    """Create a run's row with ``create()`` and start ``python -m fedcore COMMAND --run-id ID``."""
    with _lock:
        _refuse_if_busy(store)
        run_id = create()
        store.event(run_id, "launched", "started from the dashboard")
        try:
            _spawn(store, run_id, [command, "--run-id", run_id])
        except OSError as exc:
            store.finish(run_id, "failed", f"could not start the training process ({exc})")
            raise FedXrayError(f"could not start the training process ({exc})") from exc
    return run_id


def start_curve(store: RunStore, like: str, epsilons) -> None:
    """Train the privacy curve of run ``like``'s federation in a child process
    (:mod:`fedcore.run.privacy_curve`): the points the store lacks, one run after another.

    Raises
    ------
    FedXrayError
        While another run or curve is training, or when the child cannot start.
    """
    with _lock:
        _refuse_if_busy(store)
        args = ["privacy-curve", "--like", like, "--epsilons", ",".join(f"{e:g}" for e in epsilons)]
        try:
            _curves[str(store.home)] = spawn_cli(store, args, curve_log(store, like))
        except OSError as exc:
            raise FedXrayError(f"could not start the training process ({exc})") from exc


def curve_training(store: RunStore) -> bool:
    """Whether a privacy curve this process started is still training (reaps it once ended)."""
    child = _curves.get(str(store.home))
    if child is None or child.poll() is not None:
        _curves.pop(str(store.home), None)
        return False
    return True


def curve_log(store: RunStore, like: str) -> Path:
    """Where a privacy curve's output is written: beside the run it was started from."""
    return store.run_dir(like) / "privacy-curve.log"


def resume(store: RunStore, run_id: str) -> None:
    """Continue a stopped or failed run from its last completed round, in a child process.

    Raises
    ------
    FedXrayError
        When the run finished or is running, or while another run is training.
    """
    refuse_resume(store.get_run(run_id))
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
    curve_training(store)  # a curve's runs are closed by reconcile once its process is gone
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
            store.finish(run_id, "failed", exit_reason(log_path(store, run_id), code))


def log_path(store: RunStore, run_id: str) -> Path:
    """Where a dashboard-started run's output (stdout and stderr) is written."""
    return store.run_dir(run_id) / LOG_NAME


def starting(store: RunStore, run: dict) -> bool:
    """Whether this process launched ``run``'s child, which lives and has written nothing since
    (a fresh Resume), judged from the row already read."""
    child, started = _children.get((str(store.home), run["id"]), (None, 0.0))
    return child is not None and child.poll() is None and run["updated"] < started


def _starting(store: RunStore, run_id: str) -> bool:
    """A resumed child that is alive but has not yet marked its run running (nothing written since
    it started)."""
    child, started = _children.get((str(store.home), run_id), (None, 0.0))
    return child is not None and child.poll() is None and store.get_run(run_id)["updated"] < started


def _own_children(store: RunStore) -> list[tuple[str, subprocess.Popen, float]]:
    home = str(store.home)
    return [
        (run_id, child, started)
        for (h, run_id), (child, started) in list(_children.items())
        if h == home
    ]


def _refuse_if_busy(store: RunStore) -> None:
    """The store refuses a second run across processes; this also sees a resumed child of this
    process that has not yet marked its run running."""
    busy = active_run(store)
    if busy is not None:
        raise FedXrayError(still_training(busy))
    if curve_training(store):  # between two of its runs
        raise FedXrayError("a privacy curve is training: wait for it, or stop its current run")


def _spawn(store: RunStore, run_id: str, args: list[str]) -> None:
    child = spawn_cli(store, args, log_path(store, run_id))
    store.set_pid(run_id, child.pid)
    _children[(str(store.home), run_id)] = (child, time.time())
