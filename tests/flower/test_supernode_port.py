"""A SuperNode whose runtime port is taken says so in one line, before Flower starts."""

import socket
import subprocess
import sys


def test_a_taken_runtime_port_is_one_line_and_status_2():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "fedcore.flower.supernode",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the SuperNode's runtime port")
    assert "Traceback" not in done.stderr
