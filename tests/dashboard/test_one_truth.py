"""One truth per run across pages: the showcase run, one picker carried across pages and in the
URL, a broken run shown only when picked, and the same figure equal wherever it is shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.results.literal_runs import learning_round

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGES = ("views/overview.py", "views/fairness.py", "views/privacy.py", "views/diagnose.py")
PICKERS = {
    "views/overview.py": "overview_run",
    "views/fairness.py": "fairness_run",
    "views/privacy.py": "privacy_run",
    "views/diagnose.py": "diagnose_run",
}


def add_run(store, rounds: list[dict], seed: int) -> str:
    """A finished federated run written as the engine writes one (data summary, rounds)."""
    from tests.conftest import tiny_config

    run_id = store.create_run(
        tiny_config(seed=seed, rounds=len(rounds)).to_dict(), len(rounds), "federated"
    )
    summary = {
        "source": "embedded PneumoniaMNIST",
        "hospitals": {
            h: {"train": {"NORMAL": 40, "PNEUMONIA": 60}} for h in ("hospital_1", "hospital_2")
        },
        "global_test": {"NORMAL": 234, "PNEUMONIA": 390},
    }
    store.set_data_summary(run_id, summary)
    for server_round, metrics in enumerate(rounds, start=1):
        best = max(range(1, server_round + 1), key=lambda r: rounds[r - 1]["global"]["auroc"])
        store.record_round(run_id, server_round, metrics, {}, {}, 1.0, best)
    store.finish(run_id, "finished")
    return run_id


@pytest.fixture
def healthy_then_broken(store):
    healthy = add_run(store, [learning_round(0.90, 0.5), learning_round(0.95, 0.3)], seed=1)
    broken = add_run(store, [learning_round(0.62, 0.7), learning_round(0.58, 6.5)], seed=2)
    return healthy, broken


def open_app(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_on_the_healthy_run_not_the_newer_broken_one(healthy_then_broken, page):
    healthy, broken = healthy_then_broken
    at = open_app(page)
    assert at.selectbox(key=PICKERS[page]).value == healthy
    assert "seed 1" in at.selectbox(key=PICKERS[page]).format_func(healthy)
    assert not [w for w in at.warning if "did not learn" in w.value]


def test_a_picked_broken_run_shows_its_warning_and_the_choice_carries_across_pages(
    healthy_then_broken,
):
    healthy, broken = healthy_then_broken
    at = open_app("views/overview.py")
    at.selectbox(key="overview_run").set_value(broken).run()
    warning = " ".join(w.value for w in at.warning)
    assert "did not learn" in warning and "Try:" in warning
    assert at.query_params["run"] in (broken, [broken]), "a link opens the same run"
    for page in PAGES[1:]:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.selectbox(key=PICKERS[page]).value == broken, page
        assert any("did not learn" in w.value for w in at.warning), page


def test_a_link_with_a_run_opens_that_run(healthy_then_broken):
    healthy, broken = healthy_then_broken
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params["run"] = broken
    at.run()
    assert at.selectbox(key="overview_run").value == broken


def test_overview_fairness_and_diagnose_give_the_same_figures_for_the_same_run(tiny_home):
    """A real 2-round run: the accuracy and the false negatives of its model, wherever shown."""
    at = open_app("views/overview.py")
    overview = {m.label.split(" · ")[0]: (m.label, m.value) for m in at.metric}
    label, accuracy = overview["Accuracy"]
    at.switch_page("views/diagnose.py").run()
    assert not at.exception, [e.value for e in at.exception]
    diagnose = {m.label: m.value for m in at.metric}
    assert diagnose[label] == accuracy, (label, diagnose)
    at.switch_page("views/fairness.py").run()
    table1 = next(df.value for df in at.dataframe if "Threshold" in df.value.columns)
    assert f"{table1['Accuracy'].iloc[0]:.3f}" == accuracy
    assert label.endswith(f"{table1['Threshold'].iloc[0]:.3f}") or "at 0.5" in label


def test_runs_offers_a_picked_runs_report_as_one_html_file(tiny_home):
    at = open_app("views/runs.py")
    run_store, run_id = tiny_home
    at.selectbox(key="report_pick").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    (button,) = [b for b in at.get("download_button") if "report" in b.proto.label]
    assert "HTML" in button.proto.label
