"""End to end in a real browser (Debian's Chromium driven by Playwright).

Starts `streamlit run app.py` on a free loopback port with a private run store, starts
a 2-round tiny federation from the Train page, watches the chart reach round 2, opens
Fairness and sees the heatmap, uploads a sample radiograph on Diagnose and reads a
probability. A screenshot of each page is saved under test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fedcore.data import SAMPLES_DIR

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs it with apt (apt-get install -y chromium)",
                    pytrace=False)
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` in the background; returns once its health check answers."""
    port = free_port()
    env = {**os.environ, "FEDCORE_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
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


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser-home")
    log = home / "streamlit.log"
    server, url = start_dashboard(home, log)
    yield url, home
    from fedcore.store import RunStore
    from fedcore import launch

    active = launch.active_run(RunStore(home))
    if active is not None and active["pid"]:
        os.kill(active["pid"], 15)
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def page(dashboard):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        yield context.new_page()
        browser.close()


def wait_idle(page, timeout: float = 30_000) -> None:
    """Until Streamlit has finished running the page script (its 'Running…' widget is gone)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_function("!document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout)


def go(page, url: str, path: str) -> None:
    page.goto(f"{url}/{path}")
    wait_idle(page)


def shoot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport to fit it."""
    height = page.evaluate("document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": 1440, "height": min(height + 40, 4000)})
    page.wait_for_timeout(500)  # charts re-layout to the new size
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})


def test_train_watch_fairness_diagnose(dashboard, page):
    url, home = dashboard
    go(page, url, "")
    page.get_by_text("What crosses the hospital boundary").wait_for()
    shoot(page, "0-overview-empty")

    go(page, url, "train")
    for label, value in (("Rounds", "2"), ("Max training images per hospital", "150")):
        field = page.get_by_role("spinbutton", name=label, exact=True)
        field.fill(value)
        field.press("Enter")
        wait_idle(page)
    page.get_by_role("button", name="Start training").click()

    # The live view: the per-round table and the charts reach round 2, then the run finishes.
    page.get_by_text("2 of 2 rounds complete").wait_for(timeout=120_000)
    page.get_by_text("finished").first.wait_for(timeout=30_000)
    wait_idle(page)
    # The finished run reruns the whole page: wait for Plotly to draw again rather than count at once.
    curves = page.locator("[data-testid='stPlotlyChart']").first
    for title in ("Accuracy", "AUROC", "Loss", "Sensitivity", "Specificity", "F1"):
        expect(curves.locator(f"text={title}").first).to_be_visible(timeout=30_000)
    expect(curves.locator(".xtick >> text='2'").first).to_be_attached(timeout=30_000)
    shoot(page, "2-train")

    go(page, url, "fairness")
    page.get_by_text("Hospitals × metrics").wait_for()
    heatmap = page.locator("[data-testid='stPlotlyChart'] .heatmaplayer")
    heatmap.first.wait_for(timeout=30_000)
    assert page.get_by_text(re.compile("PASS|FAIL")).count() >= 1
    shoot(page, "3-fairness")

    go(page, url, "diagnose")
    page.get_by_text("not a medical device").wait_for(timeout=60_000)
    page.get_by_role("radio", name="Upload").click()
    wait_idle(page)
    sample = next(SAMPLES_DIR.glob("PNEUMONIA/*.jpeg"))
    page.locator("input[type='file']").set_input_files(str(sample))
    result = page.get_by_text(re.compile(r"P\(pneumonia\) = [01]\.\d{3}"))
    result.wait_for(timeout=60_000)
    wait_idle(page)
    probability = float(re.search(r"= ([01]\.\d{3})", result.inner_text()).group(1))
    assert 0.0 <= probability <= 1.0
    shoot(page, "4-diagnose")

    # A non-image file is refused by name before any decoding; the page keeps working.
    bad = home / "notes.txt"
    bad.write_text("not an x-ray")
    page.locator("input[type='file']").set_input_files(str(bad))
    page.get_by_text(re.compile("not allowed|not supported", re.I)).first.wait_for(timeout=10_000)

    go(page, url, "runs")
    page.get_by_text("Compare runs").wait_for()
    shoot(page, "5-runs")

    go(page, url, "")
    page.get_by_text("latest round 2").wait_for()
    shoot(page, "1-overview")
