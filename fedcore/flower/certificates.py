"""The TLS files each side of a deployment needs, checked before it starts.

A site needs the server's ``ca.pem``; the SuperLink its ``server.pem`` and ``server.key``
too (docs/flower.md makes them). Without a certificates folder a side runs in plain text,
which only loopback allows.
"""

from __future__ import annotations

from pathlib import Path

from fedcore.errors import FedXrayError

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
SITE_FILES = ("ca.pem",)
SERVER_FILES = ("ca.pem", "server.pem", "server.key")


def certificate_files(folder: str | None, names: tuple[str, ...], address: str) -> dict:
    """The PEM files a side needs from ``folder``, by name; empty for plain text on loopback.

    Raises
    ------
    FedXrayError
        For a missing or non-PEM file, or plain text to an address off this machine.
    """
    if folder is None:
        host = address.rsplit(":", 1)[0]
        if host not in LOOPBACK:
            raise FedXrayError(
                f"plain text is for this machine only and {address} is not 127.0.0.1: give "
                f"--certificates DIR with {', '.join(names)} (TLS), as docs/flower.md makes them"
            )
        return {}
    files = {}
    for name in names:
        path = Path(folder).expanduser() / name
        if not path.is_file():
            raise FedXrayError(
                f"no {name} in {path.parent}: --certificates needs {', '.join(names)}"
            )
        if not path.read_bytes().lstrip().startswith(b"-----BEGIN"):
            raise FedXrayError(f"{path} is not a PEM file: copy it again from the server")
        files[name] = path
    return files
