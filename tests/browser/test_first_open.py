"""A first visit in a real browser (Debian's Chromium driven by Playwright), on an empty run store.

Every page that waits for a run offers 'Start the default federation' on the first screen, on
a laptop (1440x900) and on a phone (420x900); every page opens from its own URL, as a bookmark
or a shared link does.
"""

from __future__ import annotations

import pytest

from testkit.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium, serving, wait_idle

require_chromium()
playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect

CALL_TO_ACTION = "Start the default federation"
# Each page by its URL path, and its title. Overview is also the default page, at '/'.
TITLES = {
    "overview": "FedXray",
    "train": "Train a federation",
    "fairness": "Fairness and bias",
    "privacy": "Privacy",
    "diagnose": "Diagnose a chest X\u2011ray",
    "runs": "Runs",
}
NAV_NAMES = {path: path.capitalize() for path in TITLES}
# Diagnose loads TensorFlow on its first visit: slow on a busy two-core machine.
LOAD_MS = 120_000


@pytest.fixture(scope="module")
def empty_dashboard(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("empty-home")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("width, height", [(1440, 900), (420, 900)])
def test_the_call_to_action_is_on_the_first_screen(empty_dashboard, browser, width, height):
    """No scrolling to the one thing a newcomer can do: it lies whole between the navigation bar
    and the bottom of the window, on every page that offers it."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    seen = {}
    for path in ("", "train", "fairness", "privacy", "diagnose", "runs"):
        page.goto(f"{empty_dashboard}/{path}")
        button = page.get_by_role("button", name=CALL_TO_ACTION)
        button.wait_for(timeout=LOAD_MS)
        wait_idle(page, LOAD_MS)
        box = button.bounding_box()
        top_bar = page.locator("header[data-testid='stHeader']").bounding_box()
        seen[path or "overview"] = (round(box["y"]), round(box["y"] + box["height"]))
        assert top_bar["y"] + top_bar["height"] <= box["y"], (path, seen)
    print(f"{width}x{height}: call to action from top to bottom, px: {seen}")
    below = {path: span for path, span in seen.items() if span[1] > height}
    assert not below, f"below the fold at {width}x{height}: {below}"
    page.context.close()


def test_every_page_opens_by_its_url(empty_dashboard, browser):
    """A bookmark of any page opens that page, marked in the navigation bar, without 'Page not
    found' (Streamlit serves the default page at '/' only: /overview once popped it)."""
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    for path, title in TITLES.items():
        page.goto(f"{empty_dashboard}/{path}")
        expect(page.locator("[data-testid='stMain'] h1").first).to_have_text(title, timeout=LOAD_MS)
        wait_idle(page, LOAD_MS)
        page.wait_for_timeout(300)  # the not-found dialog comes with the page's first message
        assert page.get_by_text("Page not found").count() == 0, f"/{path}: 'Page not found'"
        current = page.locator("header a[aria-current='page']").all_inner_texts()
        assert [t.split()[-1] for t in current] == [NAV_NAMES[path]], (path, current)
    page.context.close()
