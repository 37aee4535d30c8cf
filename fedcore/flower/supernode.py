"""FedXray's SuperNode: Flower's ``flower-supernode`` with a warm ClientApp executor beside it.

One per hospital, with ``flower-supernode``'s own arguments::

    python -m fedcore.flower.supernode --superlink server.example.org:9093 \\
        --root-certificates ca.pem --node-config 'partition-id=0 data-path="/data/hospital_1"'

It runs Flower's SuperNode in this process with ``--isolation process`` (the SuperNode
starts no ClientApp process of its own) and keeps one :mod:`fedcore.flower.executor`
process running beside it, which runs every message of the ClientApp with TensorFlow
and the hospital kept warm. The executor is restarted whenever it exits (a crash, an
out-of-memory kill); a message it was running when it died is answered with Flower's
"ClientApp crashed" error, so the server drops the hospital from that round only.
Flower's fixed waits are shortened first
(:func:`fedcore.flower.flwr_internals.shorten_waits`).

Options of its own: ``--poll-interval`` (seconds, default
:data:`fedcore.flower.flwr_internals.POLL`).
The Runtime API (``--host``, ``--port``, default 127.0.0.1:9094) is where the
executor connects; it stays on this machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import threading
import time

from flwr.common import log

from fedcore.flower import flwr_internals
from fedcore.flower.executor import PACKAGE_ROOT

# Seconds to wait before restarting an executor that exited; doubled while it keeps
# dying within a minute of its start (a broken install), up to RESTART_MAX.
RESTART_FIRST, RESTART_MAX = 1.0, 60.0


class ExecutorSupervisor:
    """Keeps one warm ClientApp executor process running for this SuperNode.

    Parameters
    ----------
    runtime_api_address : str
        The SuperNode's Runtime API, ``host:port``.
    poll : float
        The executor's poll for tasks, in seconds.
    """

    def __init__(self, runtime_api_address: str, poll: float):
        self.command = [
            sys.executable,
            "-m",
            "fedcore.flower.executor",
            "--runtime-api-address",
            runtime_api_address,
            "--poll-interval",
            str(poll),
            "--heartbeat-interval",
            str(flwr_internals.HEARTBEAT),
            "--parent-pid",
            str(os.getpid()),
        ]
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start the executor now and watch it from a background thread."""
        self.process = self._spawn()
        threading.Thread(target=self._watch, daemon=True, name="executor-supervisor").start()

    def stop(self) -> None:
        """End the executor (the SuperNode is stopping)."""
        self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def _watch(self) -> None:
        delay = RESTART_FIRST / 2  # the first restart waits RESTART_FIRST
        while not self._stopping.is_set():
            started = time.monotonic()
            code = self.process.wait()
            if self._stopping.is_set():
                return
            delay = (
                RESTART_FIRST if time.monotonic() - started > 60 else min(delay * 2, RESTART_MAX)
            )
            log(
                logging.WARNING,
                "the ClientApp executor (pid %d) exited with %s; restarting it in %.0f s",
                self.process.pid,
                code,
                delay,
            )
            if self._stopping.wait(delay):
                return
            self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        # From the folder that holds this fedcore, so the executor imports the same code.
        return subprocess.Popen(self.command, cwd=PACKAGE_ROOT)


def main() -> None:
    """Start the executor, then run Flower's SuperNode (with ``--isolation process``) until it
    stops."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--poll-interval", type=float, default=flwr_internals.POLL)
    parser.add_argument("--host", default=flwr_internals.RUNTIME_API_HOST)
    parser.add_argument("--port", type=int, default=flwr_internals.RUNTIME_API_PORT)
    parser.add_argument("--isolation")
    ours, flower_args = parser.parse_known_args()
    if ours.isolation is not None:
        parser.error(
            "--isolation is not an option here: the ClientApp always runs in the warm executor"
        )
    run(flower_args, ours.host, ours.port, ours.poll_interval)


def run(
    flower_args: list[str],
    host: str = flwr_internals.RUNTIME_API_HOST,
    port: int = flwr_internals.RUNTIME_API_PORT,
    poll: float = flwr_internals.POLL,
) -> None:
    """Run Flower's SuperNode with ``flower_args`` and a warm executor until it stops.

    Parameters
    ----------
    flower_args : list of str
        ``flower-supernode``'s arguments, without ``--isolation``, ``--host`` or ``--port``.
    host, port : str, int
        The Runtime API, where the executor asks for work (this machine only).
    poll : float
        Seconds between the SuperNode's and the executor's asks for work.
    """
    _refuse_a_taken_port(host, port)
    flwr_internals.shorten_waits(poll=poll)
    supervisor = ExecutorSupervisor(f"{host}:{port}", poll)
    supervisor.start()
    flower_args = [*flower_args, "--isolation", "process", "--host", host, "--port", str(port)]
    try:
        flwr_internals.run_supernode(flower_args, on_exit=supervisor.stop)
    finally:
        supervisor.stop()


def _refuse_a_taken_port(host: str, port: int) -> None:
    """One line and status 2 when the runtime port is taken, before Flower's traceback would."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            print(
                f"error: the SuperNode's runtime port {host}:{port} is taken ({exc.strerror}): "
                "stop what uses it, or pass --port with a free one",
                file=sys.stderr,
            )
            raise SystemExit(2) from None


if __name__ == "__main__":
    main()
