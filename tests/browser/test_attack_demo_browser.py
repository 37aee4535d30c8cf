"""The attack demo in a real browser (Debian's Chromium driven by Playwright): one click on Train,
both attackers marked and flagged in the legend while the first run is live, then the second run's
curve beside the first on the demo's chart, and the page ends on the second run.

The demo is the real one (two 10-hospital runs, about 1.5 minutes on 2 idle cores).
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
# Both halves finished: a sentence each under the demo's chart.
BOTH_FINISHED = """() =>
  (document.body.innerText.match(/, finished\\): global AUROC/g) || []).length === 2"""


def test_the_attack_demo_flags_the_attackers_live_and_ends_with_both_curves(tmp_path):
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

            page.wait_for_function(BOTH_FINISHED, timeout=400_000)
            second, first = store.list_runs()
            assert second["config"]["defence"] == "drop-flagged"
            chart = page.locator(".js-plotly-plot").first
            names = chart.evaluate("plot => plot.data.map(t => [t.name, t.x.length])")
            assert names == [["Without the defence", 10], ["With drop-flagged", 10]]
            wait_idle(page)
            assert f"Run {second['id']}" in page.inner_text("body"), "the page ends on run two"
            browser.close()
    finally:
        active = launch.active_run(store)
        if active is not None and active["pid"]:
            os.kill(active["pid"], 15)
        stop_dashboard(server)
