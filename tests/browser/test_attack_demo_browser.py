"""The attack demo in a real browser (Debian's Chromium driven by Playwright): one click on Train,
both attackers marked and flagged in the legend while the first run is live, and Stop then ends
the demo before its second run.

The demo is the real one (10 hospitals, every image); stopped after its first rounds so that the
suite stays within its time.
"""

from __future__ import annotations

import os
import re

import pytest

from testkit.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    require_chromium,
    start_dashboard,
    stop_dashboard,
    wait_idle,
)

require_chromium()

playwright = pytest.importorskip("playwright.sync_api")

# Both attackers marked and flagged in the legend, while Stop shows the run is live.
FLAGGED_LIVE = """() => {
  const text = document.body.innerText;
  const flagged = (text.match(/\\(attacker\\) \\(flagged/g) || []).length;
  const live = [...document.querySelectorAll("button")].some(b => b.innerText.includes("Stop"));
  return flagged === 2 && live;
}"""


def test_the_attack_demo_flags_the_attackers_live_and_stop_ends_it(tmp_path):
    from fedcore.run import launch
    from fedcore.store import RunStore

    home = tmp_path / "home"
    home.mkdir()
    server, url = start_dashboard(home, tmp_path / "streamlit.log")
    store = RunStore(home)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            page.goto(f"{url}/train")
            wait_idle(page)
            page.get_by_role("button", name=re.compile("^Attack demo")).click()

            page.wait_for_function(FLAGGED_LIVE, timeout=180_000)
            first = store.list_runs()[-1]
            assert first["config"]["defence"] == "none" and first["status"] == "running"

            # Both halves finishing (about 1.5 min) is the AppTests' (a finished pair shares the
            # chart); here Stop during the first half ends the demo: no second run is created.
            page.get_by_role("button", name="Stop").click()
            page.get_by_role("button", name="Resume").wait_for(timeout=120_000)
            wait_idle(page)
            assert [r["id"] for r in store.list_runs()] == [first["id"]]
            assert store.get_run(first["id"])["status"] == "stopped"
            browser.close()
    finally:
        active = launch.active_run(store)
        if active is not None and active["pid"]:
            os.kill(active["pid"], 15)
        stop_dashboard(server)
