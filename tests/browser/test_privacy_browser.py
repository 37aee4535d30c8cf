"""Privacy switched on in the Train form, in a real browser (Debian's Chromium via Playwright): the
form says what DP trains with (the privacy defaults, at the epsilon they were measured at) and
its time estimate grows by DP's cost; the run's header says "DP ε 8 (patient)", and the page
draws the privacy it spent round by round."""

from __future__ import annotations

import re

import pytest

from testkit.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium, serving, wait_idle

require_chromium()
playwright = pytest.importorskip("playwright.sync_api")

# The estimate's words (dashboard.estimate.format_seconds): '0.8 s', '42 s', '3 min 5 s', '2 min'.
PER_ROUND = re.compile(r"About (?:(\d+) min ?)?(?:([\d.]+) s)? per round")


def per_round_seconds(page) -> float:
    page.get_by_text(PER_ROUND).first.wait_for()
    found = PER_ROUND.search(page.inner_text("body"))
    assert found, page.inner_text("body")[-1500:]
    return 60 * float(found[1] or 0) + float(found[2] or 0)


def set_number(page, name: str, value: int, shows: str) -> None:
    """Type a number into the form and wait until the form ``shows`` its effect (a rerun under
    load can otherwise swallow the next click)."""
    field = page.get_by_role("spinbutton", name=re.compile(f"^{name}"))
    field.fill(str(value))
    field.press("Enter")
    page.get_by_text(shows).first.wait_for()
    wait_idle(page)


def test_privacy_on_in_the_form_says_what_it_costs_and_labels_the_run(tmp_path):
    with serving(tmp_path) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 1200}).new_page()
        page.goto(f"{url}/train")
        page.get_by_role("button", name="Start training").wait_for()
        wait_idle(page)
        set_number(page, "Rounds", 2, "for 2 rounds")
        set_number(page, "Max training images per hospital", 60, "180 training images")
        plain = per_round_seconds(page)
        page.get_by_role("button", name="Privacy").click()
        page.get_by_role("radio", name="patient", exact=True).click()
        page.get_by_text("Privacy on (DP ε 8 (patient))").wait_for()
        wait_idle(page)
        page.keyboard.press("Escape")
        body = page.inner_text("body")
        assert "Privacy on (DP ε 8 (patient))" in body and "batch size 1024" in body, body
        assert "group normalisation" in body, body
        assert "2 rounds, group normalisation (the privacy defaults" in body
        assert per_round_seconds(page) > plain, "DP-SGD's cost is in the estimate"
        page.get_by_role("button", name="Start training").click()
        header = page.locator("[data-testid='stMain'] h4").first
        header.wait_for()
        assert "DP ε 8 (patient)" in header.inner_text()
        page.get_by_text("Privacy spent so far").wait_for(timeout=180_000)
        page.get_by_text("2 of 2 rounds complete").wait_for(timeout=180_000)
        wait_idle(page)
        assert "DP ε 8 (patient)" in page.inner_text("[data-testid='stMain']")
        browser.close()
