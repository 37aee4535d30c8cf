"""A dashboard on a free loopback port, and Debian's Chromium to look at it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip the calling test module where Debian's Chromium is missing; on CI, where `.ci/run`
    installs it, fail instead."""
    import pytest

    if CHROMIUM is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not installed: .ci/run installs it with apt (apt-get install -y chromium)",
            pytrace=False,
        )
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` in the background; returns once its health check answers."""
    port = free_port()
    env = {**os.environ, "FEDCORE_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.3)
        if server.poll() is not None:
            break
    server.kill()
    raise AssertionError(f"streamlit did not start: {log.read_text()[-2000:]}")


@contextmanager
def serving(home: Path) -> Iterator[str]:
    """A dashboard over the run store ``home`` while the ``with`` block lasts; yields its URL."""
    server, url = start_dashboard(home, home / "streamlit.log")
    try:
        yield url
    finally:
        stop_dashboard(server)


def stop_dashboard(server: subprocess.Popen) -> None:
    """End a dashboard started by :func:`start_dashboard`: politely, then for good."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def wait_idle(page, timeout: float = 30_000) -> None:
    """Until Streamlit has finished running the page script (its 'Running…' widget is gone)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_function(
        "!document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout
    )
