"""The Fairness page: the verdict the data implies, readable heatmap and confusion numbers, ROC
curves, first open."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.contrast import AA_RATIO, contrast_ratio
from fedcore.results.fairness import fairness_summary
from fedcore.results.metrics import binary_metrics
from fedcore.results.operating_point import at_chosen_threshold, scored
from fedcore.results.roc import roc_points
from tests.conftest import tiny_config

PAGE = Path(__file__).resolve().parents[2] / "views" / "fairness.py"


def render() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def scores(n: int, accuracy: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of which exactly a share ``accuracy`` of each class fall on the right side
    of 0.5."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    right = np.zeros(n, dtype=bool)
    for c in (0, 1):
        members = np.flatnonzero(y == c)
        right[members[: round(accuracy * members.size)]] = True
    p = np.where(right == (y == 1), 0.55 + 0.4 * rng.random(n), 0.45 - 0.4 * rng.random(n))
    return y, p


def add_run(store, accuracies: dict[str, float], with_roc: bool = True) -> str:
    """A finished one-round run whose hospitals score ``accuracies`` (global: all pooled)."""
    run_id = store.create_run(tiny_config(rounds=1).to_dict(), 1, "federated")
    metrics, pooled_y, pooled_p = {}, [], []
    for i, (name, accuracy) in enumerate(accuracies.items()):
        y, p = scores(200, accuracy, i)
        metrics[name] = binary_metrics(y, p) | (roc_points(y, p) if with_roc else {})
        pooled_y.append(y)
        pooled_p.append(p)
    y, p = np.concatenate(pooled_y), np.concatenate(pooled_p)
    metrics["global"] = binary_metrics(y, p) | (roc_points(y, p) if with_roc else {})
    fairness = fairness_summary({h: metrics[h] for h in accuracies})
    store.record_round(run_id, 1, metrics, fairness, {}, 1.0)
    store.finish(run_id, "finished")
    return run_id


def headline(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "Verdict" in m.value)


def test_first_open_offers_the_default_federation(store):
    at = render()
    assert "verdict" in at.info[0].value
    assert at.button(key="fairness_first_run").label == "Start the default federation"


def test_hospitals_served_alike_get_the_fair_verdict(store):
    add_run(store, {"hospital_1": 0.9, "hospital_2": 0.9, "hospital_3": 0.9})
    at = render()
    assert "Fair by every measured bar" in headline(at)


def test_a_hospital_served_worse_gets_the_unfair_verdict_with_its_display_name(store):
    add_run(store, {"hospital_1": 0.92, "hospital_2": 0.92, "hospital_3": 0.70})
    at = render()
    assert "Not fair by at least one bar" in headline(at)
    assert any("Worst hospital (Hospital 3) accuracy" in c.value for c in at.caption)


def test_the_verdict_on_a_real_run_is_the_one_its_figures_imply(tiny_run, monkeypatch):
    run_store, run_id = tiny_run
    monkeypatch.setenv("FEDCORE_HOME", str(run_store.home))
    snapshot = run_store.snapshot(run_id)
    last = snapshot["run"]["rounds_done"]
    rows = {m["scope"]: m for m in snapshot["metrics"] if m["round"] == last}
    assert all("op_accuracy" in m for m in rows.values()), (
        "every hospital reports its figures at the operating point"
    )
    at_point = {s: at_chosen_threshold(m) for s, m in rows.items()}
    stored = next(r["fairness"] for r in snapshot["rounds"] if r["round"] == last)

    def fair(fairness, global_accuracy):
        return (
            fairness["fnr_gap"] <= 0.05
            and fairness["accuracy_spread"] <= 0.05
            and fairness["worst_accuracy"] >= global_accuracy - 0.03
        )

    at = render()
    expected = fair(
        fairness_summary({s: m for s, m in at_point.items() if s != "global"}),
        at_point["global"]["accuracy"],
    )
    assert (
        "Fair by every measured bar" if expected else "Not fair by at least one bar"
    ) in headline(at)
    assert len(at.get("download_button")) == 2  # Tables 1 and 2 as CSV
    at.button_group(key="fairness_threshold").set_value("fixed").run()
    expected = fair(stored, rows["global"]["accuracy"])
    assert (
        "Fair by every measured bar" if expected else "Not fair by at least one bar"
    ) in headline(at)


def test_an_uncalibrated_model_is_judged_at_the_operating_point_not_at_one_half(store):
    """Every image called PNEUMONIA at 0.5 looks fair (equal accuracy, no false negatives anywhere);
    at the threshold the server chose, hospital 3 is served worse, and the verdict says so."""
    run_id = store.create_run(tiny_config(rounds=1).to_dict(), 1, "federated")
    point = {"threshold": 0.95}
    metrics, pooled = {}, []
    for i, (name, accuracy) in enumerate(
        {"hospital_1": 0.92, "hospital_2": 0.92, "hospital_3": 0.70}.items()
    ):
        y, p = scores(200, accuracy, i)
        squeezed = 0.9 + 0.1 * p  # every score above 0.5; above 0.95 exactly where p was above 0.5
        metrics[name] = scored(y, squeezed, 0.5, point, name) | roc_points(y, squeezed)
        pooled.append((y, squeezed))
    y, p = (np.concatenate(a) for a in zip(*pooled))
    metrics["global"] = scored(y, p, 0.5, point, "global") | roc_points(y, p)
    store.record_round(
        run_id,
        1,
        metrics,
        fairness_summary({h: metrics[h] for h in metrics if h != "global"}),
        {},
        1.0,
    )
    store.finish(run_id, "finished")
    at = render()
    assert "Not fair by at least one bar" in headline(at)
    assert any("at the federated operating point (threshold 0.950)" in c.value for c in at.caption)
    assert any("Worst hospital (Hospital 3) accuracy" in c.value for c in at.caption)
    at.button_group(key="fairness_threshold").set_value("fixed").run()
    assert "Fair by every measured bar" in headline(at)
    assert any("at the fixed threshold 0.5" in c.value for c in at.caption)


def test_roc_curves_show_every_scope_with_its_operating_point(store):
    add_run(store, {"hospital_1": 0.9, "hospital_2": 0.8})
    at = render()
    roc = next(
        c
        for c in at.get("plotly_chart")
        if '"roc_' in c.proto.spec or "false-positive rate" in c.proto.spec
    )
    spec = roc.proto.spec
    assert "Global (AUROC" in spec and "Hospital 1 (AUROC" in spec and "Hospital 2 (AUROC" in spec
    assert spec.count('"mode":"markers"') == 3  # one operating point per scope


def test_a_run_recorded_without_roc_points_says_so(store):
    add_run(store, {"hospital_1": 0.9, "hospital_2": 0.8}, with_roc=False)
    at = render()
    assert any("before ROC curves were kept" in i.value for i in at.info)


@pytest.mark.parametrize(
    "accuracies", [{"hospital_1": 0.95, "hospital_2": 0.6}, {"hospital_1": 0.9, "hospital_2": 0.9}]
)
def test_every_number_on_the_heatmap_and_confusion_tiles_meets_aa_contrast(store, accuracies):
    import json

    from dashboard.contrast import interpolate

    add_run(store, accuracies)
    at = render()
    checked = 0
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        annotations = [
            a
            for a in figure["layout"].get("annotations", [])
            if "font" in a and "color" in a["font"]
        ]
        heatmaps = [t for t in figure["data"] if t["type"] == "heatmap"]
        if not heatmaps or not annotations:
            continue
        for trace in heatmaps:
            scale = trace["colorscale"]
            low, high = trace["zmin"], trace["zmax"]
            for row, y in zip(trace["z"], trace["y"]):
                for value, x in zip(row, trace["x"]):
                    tile = (
                        "#F7F7F7"
                        if value is None
                        else interpolate(scale, (value - low) / (high - low))
                    )
                    label = next(
                        a
                        for a in annotations
                        if a["x"] == x
                        and a["y"] == y
                        and a.get("xref", "x") == trace.get("xaxis", "x")
                    )
                    assert contrast_ratio(tile, label["font"]["color"]) >= AA_RATIO, (x, y, tile)
                    checked += 1
    assert checked == 3 * 7  # the heatmap: 3 scopes x 7 metrics
    matrices = next(m.value for m in at.markdown if "fx-tile" in m.value)
    tiles = re.findall(
        r"class='fx-tile' style='background:(#[0-9A-Fa-f]{6});color:(#[0-9A-Fa-f]{6})", matrices
    )
    assert len(tiles) == 3 * 4, "3 confusion matrices of 4 tiles"
    for tile, text in tiles:
        assert contrast_ratio(tile, text) >= AA_RATIO, (tile, text)
