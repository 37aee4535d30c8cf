"""The run report as one HTML file (`python -m fedcore report RUN --html FILE`) opens in Chromium
with every network request refused: its charts are drawn from the embedded Plotly, with no
console error, and the file stays under 5 MB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testkit.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

ROOT = Path(__file__).resolve().parents[2]

require_chromium()


def test_the_html_report_draws_its_charts_offline(tiny_run, tmp_path):
    from playwright.sync_api import sync_playwright

    # Prepare: the report of a really trained tiny run, written by the CLI.
    run_store, run_id = tiny_run
    target = tmp_path / "report.html"
    written = subprocess.run(
        [sys.executable, "-m", "fedcore", "--home", str(run_store.home), "report", run_id]
        + ["--html", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=300,
    )
    assert written.returncode == 0, written.stderr[-2000:]
    assert target.stat().st_size < 5_000_000
    url = target.as_uri()
    refused, errors = [], []
    # Execute: open it with every request but the file's own refused.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def only_the_file(route):
            if route.request.url == url:
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_file)
        page.goto(url)
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot .main-svg').length > 0", timeout=30_000
        )
        drawn = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
        traces = page.evaluate(
            "[...document.querySelectorAll('.js-plotly-plot')]"
            ".filter(d => d.querySelector('.scatterlayer .trace')).length"
        )
        text = page.inner_text("body")
        browser.close()
    # Assert: every chart (5 round curves, ROC, reliability before and after the map) is drawn
    # with its lines, nothing was fetched and nothing failed.
    assert drawn == 8 and traces == drawn
    assert not refused, refused
    assert not errors, errors
    for section in ("Settings and command", "Table 1.", "Table 2.", "Fairness verdict", "Health"):
        assert section in text
    assert "ECE" in text and "python -m fedcore train" in text
