"""A whole Flower deployment on this machine's loopback, for tests and benchmarks.

One SuperLink and one SuperNode per hospital, real ``flower-superlink`` and FedXray
SuperNode processes (``python -m fedcore.flower.supernode``: Flower's SuperNode and a
warm ClientApp executor) on 127.0.0.1 with TLS (certificates from
``scripts/loopback-certs.sh``), each with its own ``FLWR_HOME`` as if on its own
machine. The SuperLink keeps its state in memory (Flower's default), as
``scripts/federation.sh`` runs it. Used as a context manager it leaves no process behind: every
process it
starts, and everything those start (SuperExec, ServerApp, ClientApp processes, even
when re-parented), carries a token in its environment, and teardown ends every
process that carries it. ``scripts/federation.sh`` is the same recipe in shell.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fedcore.flower.app_config import toml_value

REPO = Path(__file__).resolve().parent.parent
TOKEN_VAR = "FEDXRAY_LOOPBACK_TOKEN"
# What a SuperNode's executor logs once it asks for work (fedcore.flower.executor).
READY = "FedXray ClientApp executor ready"
CONNECTION = "local-deployment"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackFederation:
    """A SuperLink and SuperNodes on 127.0.0.1; ``run`` submits the app with ``flwr run``.

    Parameters
    ----------
    workdir : Path
        Where certificates, logs, each process's FLWR_HOME and the run store go.
    hospitals : list of Path
        One data file or folder per SuperNode, in federation order (partition-id).
    global_test : Path
        The server's global test set (FEDXRAY_GLOBAL_TEST).
    store_home : Path, optional
        FEDCORE_HOME of the ServerApp; default ``workdir/store``.
    auth : bool
        Require SuperNode authentication: each node gets an ECDSA key registered with
        ``flwr supernode register`` before it starts.
    wan : dict, optional
        Put a fault-injecting proxy (:mod:`testkit.fault_proxy`) between each SuperNode and
        the SuperLink, with these options (``{"delay-ms": 40, "cut-seconds": 15}``); options
        under a hospital's index (``{2: {"mbit": 5}}``) apply to that hospital's proxy only.
    kit : bool
        Start the SuperLink with ``python -m fedcore serve`` and each SuperNode with
        ``python -m fedcore site``, as a hospital's IT team would, instead of directly.
    """

    def __init__(
        self,
        workdir: Path,
        hospitals: list[Path],
        global_test: Path,
        store_home: Path | None = None,
        auth: bool = False,
        kit: bool = False,
        wan: dict | None = None,
    ):
        self.workdir = Path(workdir)
        self.hospitals = [Path(h) for h in hospitals]
        self.global_test = Path(global_test)
        self.store_home = Path(store_home or self.workdir / "store")
        self.auth = auth
        self.kit = kit
        self.wan = wan
        self.proxies: dict[int, subprocess.Popen] = {}
        self.proxy_ports: dict[int, int] = {}
        self.token = secrets.token_hex(8)
        self.port = free_port()
        self.certs = self.workdir / "certs"
        self.superlink: subprocess.Popen | None = None
        self.nodes: dict[int, subprocess.Popen] = {}
        self._logs: list = []

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "LoopbackFederation":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Certificates, the CLI's connection, the SuperLink, then every SuperNode."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(REPO / "scripts" / "loopback-certs.sh"), str(self.certs)], check=True)
        cli_home = self.workdir / "flwr-cli"
        cli_home.mkdir(exist_ok=True)
        (cli_home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
            f'address = "127.0.0.1:{self.port}"\nroot-certificates = "{self.certs / "ca.pem"}"\n'
        )
        self.start_superlink()
        for index in range(len(self.hospitals)):
            self.start_node(index)

    def start_superlink(self) -> subprocess.Popen:
        """Start (or restart, on the same port) the SuperLink; its state starts empty."""
        command = [
            "flower-superlink",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ssl-certfile",
            str(self.certs / "server.pem"),
            "--ssl-keyfile",
            str(self.certs / "server.key"),
            "--ssl-ca-certfile",
            str(self.certs / "ca.pem"),
            "--disable-runtime-dependency-installation",
        ]
        if self.auth:
            command.append("--enable-supernode-auth")
        if self.kit:
            command = [sys.executable, "-m", "fedcore", "serve", "--port", str(self.port)]
            command += ["--global-test", str(self.global_test), "--certificates", str(self.certs)]
            command += ["--auth"] if self.auth else []
        self.superlink = self._spawn(
            command,
            "superlink",
            {"FEDCORE_HOME": str(self.store_home), "FEDXRAY_GLOBAL_TEST": str(self.global_test)},
            cwd=REPO if self.kit else None,
        )
        self._wait_for_port(self.port)
        return self.superlink

    def start_node(self, index: int) -> subprocess.Popen:
        """Start (or restart) the SuperNode of hospital ``index``."""
        data = self.hospitals[index]
        superlink = f"127.0.0.1:{self._link_port(index)}"
        command = [
            sys.executable,
            "-m",
            "fedcore.flower.supernode",
            "--superlink",
            superlink,
            "--root-certificates",
            str(self.certs / "ca.pem"),
            "--port",
            str(free_port()),
            "--node-config",
            f'partition-id={index} data-path="{data}"',
        ]
        if self.kit:
            command = [sys.executable, "-m", "fedcore", "site", "--data", str(data)]
            command += ["--superlink", superlink, "--certificates", str(self.certs)]
            command += ["--partition-id", str(index), "--runtime-port", str(free_port())]
        if self.auth:
            key = str(self._node_key(index))
            command += ["--auth-key" if self.kit else "--auth-supernode-private-key", key]
        self.nodes[index] = self._spawn(command, f"supernode-{index}", {}, cwd=REPO)
        return self.nodes[index]

    def cut(self, index: int) -> None:
        """Cut hospital ``index``'s link for the ``cut-seconds`` its proxy was given (``wan``)."""
        self.proxies[index].send_signal(signal.SIGUSR1)

    def _link_port(self, index: int) -> int:
        """The port hospital ``index`` dials: the SuperLink's, or its own proxy's under ``wan``."""
        if self.wan is None:
            return self.port
        if index not in self.proxies:
            port = free_port()
            command = [sys.executable, "-m", "testkit.fault_proxy", "--listen", f"127.0.0.1:{port}"]
            command += ["--target", f"127.0.0.1:{self.port}"]
            options = {k: v for k, v in self.wan.items() if isinstance(k, str)}
            options.update(self.wan.get(index, {}))
            command += [f"--{key}={value}" for key, value in options.items()]
            self.proxies[index] = self._spawn(command, f"proxy-{index}", {}, cwd=REPO)
            self.proxy_ports[index] = port
            self._wait_for_port(port, what=f"hospital {index}'s proxy")
        return self.proxy_ports[index]

    def wait_until_ready(self, seconds: float = 180.0) -> None:
        """Wait until every SuperNode's executor has imported TensorFlow and asks for work."""
        deadline = time.monotonic() + seconds
        while not all(READY in self.log(f"supernode-{i}") for i in self.nodes):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the SuperNodes' executors were not ready within {seconds:.0f} s"
                )
            time.sleep(0.2)

    def executor_pid(self, index: int) -> int | None:
        """Pid of the warm ClientApp executor of hospital ``index``'s SuperNode (None while it has
        none)."""
        for pid in self.leftovers():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == self.nodes[index].pid and b"fedcore.flower.executor" in command:
                return pid
        return None

    def kill_node(self, index: int, whole: bool = False) -> None:
        """SIGKILL a SuperNode, as a crash or a pulled cable would end it; its own children follow
        it. ``whole``: its whole process group at once (the site and its executor), as a crash of
        the hospital's machine ends them."""
        node = self.nodes.pop(index)
        if whole:
            os.killpg(node.pid, signal.SIGKILL)
        else:
            node.kill()
        node.wait()

    def kill_superlink(self) -> None:
        """SIGKILL the SuperLink's process group, as a crash of the server ends it. Its SuperExec
        and the ServerApp, in a session of their own, end themselves once it is gone (each
        watches the process that started it)."""
        os.killpg(self.superlink.pid, signal.SIGKILL)
        self.superlink.wait()

    def stop(self) -> None:
        """End every process of this deployment (SIGTERM, then SIGKILL after a grace period)."""
        everything = [*self.nodes.values(), *self.proxies.values(), self.superlink]
        for proc in everything:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in everything:
            if proc is not None:
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for _ in range(50):
            left = self.leftovers()
            if not left:
                break
            for pid in left:
                _signal(pid, signal.SIGTERM if _ < 20 else signal.SIGKILL)
            time.sleep(0.2)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def leftovers(self) -> list[int]:
        """Pids of processes still alive that this deployment started, directly or not."""
        marker = f"{TOKEN_VAR}={self.token}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0") and not _zombie(entry):
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    # ------------------------------------------------------------------ runs

    def submit(self, run_config: dict) -> subprocess.Popen:
        """``flwr run . local-deployment --stream`` with ``run_config`` overrides; returns the
        running CLI."""
        overrides = " ".join(f"{key}={toml_value(value)}" for key, value in run_config.items())
        command = ["flwr", "run", str(REPO), CONNECTION, "--stream"]
        if overrides:
            command += ["--run-config", overrides]
        return self._spawn(command, f"flwr-run-{time.monotonic_ns()}", {}, cwd=REPO, pipe=True)

    def run(self, run_config: dict, timeout: float) -> str:
        """Submit a run and wait for it to end; its streamed log. Raises on timeout or failure."""
        proc = self.submit(run_config)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise TimeoutError(
                f"flwr run did not end within {timeout:.0f} s:\n{out[-4000:]}"
            ) from None
        if proc.returncode != 0:
            raise RuntimeError(f"flwr run exited with {proc.returncode}:\n{out[-4000:]}")
        return out

    def log(self, name: str) -> str:
        """The captured output of one process (``superlink``, ``supernode-0``, ...)."""
        return (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")

    # ------------------------------------------------------------------ helpers

    def _spawn(
        self,
        command: list[str],
        name: str,
        extra_env: dict,
        cwd: Path | None = None,
        pipe: bool = False,
    ) -> subprocess.Popen:
        env = self._env("flwr-cli" if name.startswith("flwr-run") else f"flwr-{name}", extra_env)
        if pipe:
            return subprocess.Popen(
                command,
                cwd=cwd or self.workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "logs" / f"{name}.log", "a")
        self._logs.append(log)
        return subprocess.Popen(
            command,
            cwd=cwd or self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _node_key(self, index: int) -> Path:
        key = self.workdir / "keys" / f"supernode-{index}"
        if not key.exists():
            # What `ssh-keygen -t ecdsa -b 384 -N ""` writes, without needing ssh-keygen.
            private = ec.generate_private_key(ec.SECP384R1())
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_bytes(
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                )
            )
            key.chmod(0o600)
            Path(f"{key}.pub").write_bytes(
                private.public_key().public_bytes(
                    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
                )
            )
            subprocess.run(
                ["flwr", "supernode", "register", f"{key}.pub", CONNECTION],
                check=True,
                env=self._env("flwr-cli", {}),
                cwd=self.workdir,
                capture_output=True,
            )
        return key

    def _env(self, flwr_home: str, extra: dict) -> dict:
        # Each process has its own FLWR_HOME, as if on its own machine; the token marks
        # it and everything it starts for teardown.
        return {
            **os.environ,
            **extra,
            TOKEN_VAR: self.token,
            "FLWR_HOME": str(self.workdir / flwr_home),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def _wait_for_port(self, port: int, seconds: float = 30.0, what: str = "the SuperLink") -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.superlink is not None and self.superlink.poll() is not None:
                raise RuntimeError(
                    f"the SuperLink exited at start:\n{self.log('superlink')[-3000:]}"
                )
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {seconds:.0f} s")


def _zombie(proc_dir: Path) -> bool:
    return (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
