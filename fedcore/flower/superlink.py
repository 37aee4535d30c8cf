"""``python -m fedcore serve``: the server's side of a deployment, a checked ``flower-superlink``.

It checks the global test set and the certificate files first, so that a wrong path is one
line instead of a failed run once the sites have joined, then becomes ``flower-superlink``
with the ServerApp's inputs in its environment (:mod:`fedcore.flower.server_app` reads them).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fedcore.config.run_config import RunConfig
from fedcore.data.site import load_global_test
from fedcore.flower.certificates import SERVER_FILES, certificate_files

GLOBAL_TEST_ENV = "FEDXRAY_GLOBAL_TEST"


def superlink_command(host: str, port: int, certificates: dict, auth: bool) -> list[str]:
    """The ``flower-superlink`` command line that ``serve`` becomes."""
    command = [str(Path(sys.executable).parent / "flower-superlink"), "--host", host]
    command += ["--port", str(port), "--disable-runtime-dependency-installation"]
    if certificates:
        command += ["--ssl-certfile", str(certificates["server.pem"])]
        command += ["--ssl-keyfile", str(certificates["server.key"])]
        command += ["--ssl-ca-certfile", str(certificates["ca.pem"])]
    else:
        command.append("--insecure")
    if auth:
        command.append("--enable-supernode-auth")
    return command


def serve(
    global_test: str, host: str, port: int, certificates: str | None, auth: bool, home: str | None
) -> None:
    """Check the server's inputs, say what will serve, then become ``flower-superlink``."""
    files = certificate_files(certificates, SERVER_FILES, f"{host}:{port}")
    test = load_global_test(Path(global_test).expanduser(), RunConfig().input_size)
    environment = {**os.environ, GLOBAL_TEST_ENV: str(Path(global_test).expanduser().resolve())}
    # The SuperLink starts flower-superexec by name: this Python's, not whichever is on PATH.
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    if home:
        environment["FEDCORE_HOME"] = str(Path(home).resolve())
    print(
        f"superlink on {host}:{port} ({'TLS' if files else 'plain text, loopback only'}"
        f"{', SuperNode authentication' if auth else ''}); global test set "
        f"{len(test)} images from {global_test}",
        flush=True,
    )
    command = superlink_command(host, port, files, auth)
    os.execve(command[0], command, environment)
