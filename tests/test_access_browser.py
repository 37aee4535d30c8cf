"""The password gate in a real server and browser: a page's URL opened first must not bypass it.

Streamlit discovers a folder named ``pages/`` beside the main script (its first multipage
API) and, until some session has run app.py, serves ``/runs`` by running
pages/runs.py alone: app.py, and so the gate, never runs. Renaming the folder ends that.
"""

from __future__ import annotations

import os
import subprocess

import pytest

pytest.importorskip("playwright.sync_api")
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, playwright, start_dashboard, wait_idle  # noqa: E402


@pytest.mark.xfail(os.path.isdir(os.path.join(os.path.dirname(__file__), "..", "pages")), strict=True,
                   reason="Streamlit runs pages/<page>.py without app.py while the folder is named pages/: "
                          "rename it (e.g. views/) and the gate holds")
def test_a_page_url_opened_first_shows_only_the_password_field(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDXRAY_PASSWORD", "a long passphrase")
    server, url = start_dashboard(tmp_path, tmp_path / "streamlit.log")
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{url}/runs")
            wait_idle(page)
            titles = page.locator("h1").all_inner_texts()
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    assert titles == ["FedXray: sign in"]
