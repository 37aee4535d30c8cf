"""A warm ClientApp executor: one long-lived process per SuperNode runs every message of FedXray's
ClientApp.

Flower 1.42 runs each message in a fresh ``flwr-clientapp`` process, which imports
TensorFlow, loads the hospital's images and builds the model every time: about 5 s
per message, two to five messages per round. This process does what
``flwr-clientapp`` does for one message, in a loop: it acquires the SuperNode's next
ClientApp task, pulls the message, runs :data:`fedcore.flower.client_app.app` and pushes
the reply. TensorFlow is imported once, at start, and the hospital (its data and
compiled model) stays in :mod:`fedcore.flower.client_app`'s module state for the run.

It runs this hospital's own FedXray, not the code the server sent: each run's app
bundle (FAB) is compared with the local ``fedcore`` package first, and a run whose
code differs is answered with an error saying to update both sides to one commit.

Started and restarted by :mod:`fedcore.flower.supernode`, never by hand. Flower has no
public API for running ClientApp tasks: the Runtime API calls are in
:mod:`fedcore.flower.flwr_internals`.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import threading
import time
import zipfile
from pathlib import Path

from flwr.app import Context, Message
from flwr.common import log

import fedcore
from fedcore.errors import FedXrayError
from fedcore.flower import flwr_internals

PACKAGE_ROOT = Path(fedcore.__file__).resolve().parent.parent
# FAB hash -> why its code cannot run here ("" when it matches this machine's fedcore).
_checked: dict[str, str] = {}


def serve(
    runtime_api_address: str, poll: float, heartbeat: float, parent_pid: int | None = None
) -> None:
    """Run this SuperNode's ClientApp tasks one after another, forever.

    Parameters
    ----------
    runtime_api_address : str
        The SuperNode's Runtime API, ``host:port`` (plain HTTP on this machine).
    poll : float
        Seconds between asks for a task while none is pending.
    heartbeat : float
        Task heartbeat interval in seconds: the SuperNode's own
        (:func:`fedcore.flower.flwr_internals.shorten_waits`).
    parent_pid : int, optional
        Exit when this process (the SuperNode) is gone.
    """
    if parent_pid is not None:
        _exit_with(parent_pid)
    import fedcore.model.networks  # noqa: F401  (TensorFlow, once, before the first message)
    from fedcore.flower.client_app import app

    flwr_internals.shorten_waits(heartbeat=heartbeat)

    def handle(message: Message, context: Context, bundle_hash: str, bundle: bytes) -> Message:
        _check_bundle(bundle_hash, bundle)
        return app(message, context)

    log(logging.INFO, "FedXray ClientApp executor ready (pid %d)", os.getpid())
    for token in flwr_internals.clientapp_tasks(runtime_api_address, poll):
        flwr_internals.run_clientapp_task(runtime_api_address, token, handle)


def bundle_differences(content: bytes, root: Path = PACKAGE_ROOT) -> list[str]:
    """The ``fedcore`` source files that differ between an app bundle (FAB, a zip) and ``root``.

    Returns
    -------
    list of str
        Paths relative to ``root``, sorted; empty when the bundle's code is this machine's.
    """
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        sent = {
            name: bundle.read(name)
            for name in bundle.namelist()
            if name.startswith("fedcore/") and name.endswith(".py")
        }
    local = {p.relative_to(root).as_posix(): p for p in (root / "fedcore").rglob("*.py")}
    return sorted(
        name
        for name in set(sent) | set(local)
        if name not in sent or name not in local or local[name].read_bytes() != sent[name]
    )


def _check_bundle(fab_hash: str, content: bytes) -> None:
    if fab_hash not in _checked:
        differ = bundle_differences(content)
        _checked[fab_hash] = (
            ""
            if not differ
            else (
                f"this hospital's FedXray differs from the app the server sent ({len(differ)} "
                "file(s), e.g. "
                f"{', '.join(differ[:3])}): install the same FedXray commit on the server and "
                "every hospital"
            )
        )
    if _checked[fab_hash]:
        raise FedXrayError(_checked[fab_hash])


def _exit_with(parent_pid: int) -> None:
    # Killed with SIGKILL, the SuperNode cannot stop its executor: the executor stops itself.
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main() -> None:
    """``python -m fedcore.flower.executor --runtime-api-address HOST:PORT``, started by the
    SuperNode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime-api-address", required=True)
    parser.add_argument("--poll-interval", type=float, default=flwr_internals.POLL)
    parser.add_argument("--heartbeat-interval", type=float, default=flwr_internals.HEARTBEAT)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args()
    serve(args.runtime_api_address, args.poll_interval, args.heartbeat_interval, args.parent_pid)


if __name__ == "__main__":
    main()
