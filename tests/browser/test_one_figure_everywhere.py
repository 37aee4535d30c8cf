"""One finished run read across the pages in a real browser: the same figure, the same digits.

A small run is trained from the command line (2 rounds, 150 training images per hospital, seed
7: its model calls every image NORMAL at the fixed 0.5, so a figure read at the wrong threshold
cannot pass for the right one). Then the global model's accuracy and false negatives are read
wherever a page shows them: Overview's Accuracy card, the Train page's headline and rounds
table, Fairness' Table 1 and confusion matrix, Diagnose's model card. They must agree digit for
digit at the run's decision threshold, each labelled with it, and again at the fixed threshold
where a page shows that too.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from testkit.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, require_chromium, serving, wait_idle

require_chromium()
playwright = pytest.importorskip("playwright.sync_api")

TRAIN = ["train", "--rounds", "2", "--max-per-hospital", "150", "--seed", "7"]
LOAD_MS = 120_000  # Diagnose loads TensorFlow on its first visit

# Streamlit's st.dataframe draws on a canvas; its grid keeps an accessible table of the cells.
GRIDS = """() => [...document.querySelectorAll("[data-testid='stDataFrame'] table")].map(t => {
  const head = [...t.querySelectorAll("thead th")].map(th => th.innerText.trim());
  return [...t.querySelectorAll("tbody tr")].map(tr => Object.fromEntries(
    [...tr.querySelectorAll("td")].map((td, i) => [head[i], td.innerText.trim()])));
})"""
CARDS = """() => [...document.querySelectorAll("[data-testid='stMetric']")].map(m => [
  m.querySelector("[data-testid='stMetricLabel']").innerText.trim(),
  m.querySelector("[data-testid='stMetricValue']").innerText.trim()])"""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("tour-home")
    subprocess.run(
        [sys.executable, "-m", "fedcore", "--home", str(home), *TRAIN],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    with serving(home) as url:
        yield url


@pytest.fixture(scope="module")
def page():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        browser.close()


def open_page(page, url: str, path: str, ready: str) -> str:
    """Open ``path`` and wait for ``ready`` (a regular expression); the main area's text."""
    page.goto(f"{url}/{path}")
    page.get_by_text(re.compile(ready)).first.wait_for(timeout=LOAD_MS)
    wait_idle(page, LOAD_MS)
    return page.locator("[data-testid='stMain']").inner_text()


def card(page, name: str) -> tuple[str, str]:
    """(label, value) of the metric card whose label starts with ``name``, once it is drawn (on a
    slow machine the cards can follow the text the page waited for)."""
    deadline = time.monotonic() + LOAD_MS / 1000
    while True:
        found = [(label, value) for label, value in page.evaluate(CARDS) if label.startswith(name)]
        if found or time.monotonic() > deadline:
            return found[0]
        page.wait_for_timeout(200)


def grid_row(page, **match: str) -> dict:
    """The first row of any data frame on the page whose cells equal ``match`` (a data frame is
    drawn a moment after the page's script ends)."""
    end = time.monotonic() + 30
    while True:
        rows = [row for grid in page.evaluate(GRIDS) for row in grid]
        found = [row for row in rows if all(row.get(k) == v for k, v in match.items())]
        if found or time.monotonic() > end:
            assert found, f"no row with {match} in {rows}"
            return found[0]
        page.wait_for_timeout(300)


def three(cell: str) -> str:
    """A data frame cell (the grid's accessible text has every digit) as the pages print it."""
    return f"{float(cell):.3f}"


def global_fn(text: str) -> int:
    """The global model's false negatives in Fairness' confusion matrices."""
    return int(re.search(r"● Global\s.*?actual PNEUMONIA\s+(\d+)\s+FN", text, re.S).group(1))


def test_the_global_accuracy_and_false_negatives_agree_on_every_page(finished_run, page):
    url, seen = finished_run, {}

    # Overview: the run's model (its round), the Accuracy card and its threshold label.
    text = open_page(page, url, "", r"round \d+ of \d+ \(the run's model")
    shown_round = re.search(r"round (\d+) of \d+ \(the run's model", text).group(1)
    label, accuracy = card(page, "Accuracy")
    threshold = re.fullmatch(r"Accuracy · at t = (\d\.\d{3})", label).group(1)
    at_t = f"at t = {threshold}"
    at_fixed = re.search(r"At 0\.5: accuracy (\d\.\d{3})", text).group(1)
    seen["Overview: Accuracy card"] = (accuracy, at_t)
    seen["Overview: caption at 0.5"] = (at_fixed, "at 0.5")

    # Train: the finished run's headline, and the rounds table's row for the same round.
    text = open_page(page, url, "train", "rounds complete")
    headline = re.search(r"accuracy (\d\.\d{3}) (at t = \d\.\d{3})", text)
    seen["Train: headline"] = (headline.group(1), headline.group(2))
    row = grid_row(page, round=shown_round, model="Global model")
    seen["Train: rounds table"] = (three(row["accuracy"]), f"at t = {three(row['threshold'])}")
    seen["Train: rounds table at 0.5"] = (three(row["accuracy at 0.5"]), "at 0.5")

    # Fairness: Table 1 and the confusion matrices, at the decision and at the fixed threshold.
    text = open_page(page, url, "fairness", r"Table 1\.")
    assert f"round {shown_round}, at the federated operating point (threshold {threshold})" in text
    assert (
        f"Confusion counts and errors at the federated operating point (threshold {threshold})"
        in text
    )
    row = grid_row(page, model="Global model")
    seen["Fairness: Table 1"] = (three(row["Accuracy"]), f"at t = {three(row['Threshold'])}")
    false_negatives = {"Fairness: Table 1": int(row["FN"]), "Fairness: confusion": global_fn(text)}
    page.get_by_text("the fixed threshold 0.5", exact=True).click()
    page.get_by_text(re.compile(r"Table 1\..*at the fixed threshold 0\.5")).wait_for()
    wait_idle(page)
    text = page.locator("[data-testid='stMain']").inner_text()
    row = grid_row(page, model="Global model", Threshold="0.5")  # once the grid has redrawn
    seen["Fairness: Table 1 at 0.5"] = (three(row["Accuracy"]), f"at {float(row['Threshold']):g}")
    fixed_negatives = {"Fairness: Table 1": int(row["FN"]), "Fairness: confusion": global_fn(text)}

    # Diagnose: the model card of the run's model (its best checkpoint: the same round).
    text = open_page(page, url, "diagnose", "The model behind this call")
    assert re.search(rf"checkpoint = round {shown_round} of", text), text
    label, accuracy = card(page, "Accuracy")
    seen["Diagnose: model card"] = (accuracy, label.removeprefix("Accuracy · "))
    fixed = re.search(r"at the fixed threshold 0\.5: accuracy (\d\.\d{3})", text).group(1)
    seen["Diagnose: caption at 0.5"] = (fixed, "at 0.5")

    report = "\n".join(f"{where:28} {value} {label}" for where, (value, label) in seen.items())
    print(f"\nround {shown_round}\n{report}\nFN: {false_negatives}, at 0.5: {fixed_negatives}")
    for threshold_label in {label for _, label in seen.values()}:
        values = {w: v for w, (v, label) in seen.items() if label == threshold_label}
        assert len(set(values.values())) == 1, f"{threshold_label}: {values}\n{report}"
    assert {label for _, label in seen.values()} == {at_t, "at 0.5"}, report
    assert seen["Overview: Accuracy card"][0] != at_fixed, "the two thresholds' figures differ"
    assert len(set(false_negatives.values())) == 1, false_negatives
    assert len(set(fixed_negatives.values())) == 1, fixed_negatives
