"""The dashboard's pure helpers: the progress line of a running run, colours and labels, the metric
panels."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import data, estimate, round_curves, theme


def heartbeat(**values) -> dict:
    beat = {
        "round": 3,
        "rounds": 10,
        "step": "training",
        "hospital": "hospital_2",
        "hospital_index": 1,
        "hospitals": 3,
        "round_elapsed": 2.0,
        "mean_round_seconds": None,
    }
    beat.update(values)
    return beat


def test_progress_before_the_child_writes_anything_says_it_is_starting():
    fraction, words = estimate.progress(None, since_start=7.4)
    assert fraction == 0.0
    assert "Starting the training process" in words and "7 s" in words


@pytest.mark.parametrize("step", ["loading data", "building model", "any words the engine sends"])
def test_progress_before_round_1_shows_the_step_in_words(step):
    fraction, words = estimate.progress(
        heartbeat(round=0, step=step, hospital=None, hospital_index=0)
    )
    assert fraction == 0.0
    # The engine's own steps in plain words ('loading the data'); anything else as written.
    assert words == f"Getting ready: {estimate.STARTING.get(step, step)}…"


def test_progress_within_a_round_counts_hospitals_then_evaluation():
    # Round 3 of 10, 3 hospitals: 4 steps a round (3 trainings, 1 evaluation).
    training, words = estimate.progress(heartbeat())
    assert training == pytest.approx((2 + 1 / 4) / 10)
    assert "Round 3 of 10" in words and "training at hospital 2 (2/3)" in words
    evaluating, words = estimate.progress(heartbeat(step="evaluating", hospital=None))
    assert evaluating == pytest.approx((2 + 3 / 4) / 10)
    assert "evaluating the new global model" in words


def test_time_left_comes_only_from_measured_rounds():
    _, before = estimate.progress(heartbeat(round=1, mean_round_seconds=None))
    assert "time left known when this round completes" in before
    # 8 rounds still to go (3..10) at 6 s each, 2 s of round 3 already spent.
    _, words = estimate.progress(heartbeat(mean_round_seconds=6.0))
    assert "about 46 s left" in words


def test_an_unknown_step_within_a_round_is_shown_as_is():
    fraction, words = estimate.progress(heartbeat(step="saving the checkpoint", hospital=None))
    assert "saving the checkpoint" in words
    assert fraction == pytest.approx(0.2)


@pytest.mark.parametrize(
    "seconds,text", [(0.84, "0.8 s"), (42.3, "42 s"), (185, "3 min 5 s"), (4320, "1 h 12 min")]
)
def test_format_seconds(seconds, text):
    assert estimate.format_seconds(seconds) == text


def test_a_hospital_has_one_colour_whatever_the_scope_calls_it():
    assert (
        theme.hospital_color("hospital_2")
        == theme.hospital_color("global:hospital_2")
        == theme.HOSPITAL_COLORS[1]
    )
    assert theme.hospital_color("global") == theme.GLOBAL_COLOR
    assert theme.hospital_color("hospital_8") == theme.HOSPITAL_COLORS[0], (
        "more hospitals than colours wrap around"
    )
    assert theme.scope_label("global:hospital_1") == "Hospital 1 model"


def test_a_metric_figure_is_the_same_for_the_same_rows_with_global_on_top():
    frame = pd.DataFrame(
        {
            "round": [1, 1, 2, 2],
            "scope": ["global", "hospital_1"] * 2,
            "accuracy": [0.6, 0.5, 0.7, 0.65],
        }
    )
    scopes = round_curves.shown_scopes(frame)
    first = round_curves.metric_figure(frame, "accuracy", scopes, rounds_total=10)
    # Between two rounds the live view hands Streamlit the same figure: the same spec keeps the
    # drawn chart.
    assert (
        first.to_json()
        == round_curves.metric_figure(frame.copy(), "accuracy", scopes, rounds_total=10).to_json()
    )
    assert scopes == ["hospital_1", "global"], "the global line is drawn last, on top"
    assert [t.name for t in first.data] == ["Hospital 1", "Global"] and list(first.data[1].y) == [
        0.6,
        0.7,
    ]
    assert first.layout.xaxis.range[1] > 10, (
        "the x axis spans the whole run, so the curves grow into a fixed frame"
    )


def test_many_hospitals_draw_the_global_model_the_worst_the_best_and_those_asked_for():
    accuracy = {f"hospital_{k}": 0.5 + k / 100 for k in range(1, 21)} | {
        "hospital_7": 0.2,
        "global": 0.9,
    }
    frame = pd.DataFrame(
        [{"round": r, "scope": s, "accuracy": a} for r in (1, 2) for s, a in accuracy.items()]
    )
    assert round_curves.worst_and_best(frame) == ("hospital_7", "hospital_20")
    assert round_curves.shown_scopes(frame) == ["hospital_7", "hospital_20", "global"]
    assert round_curves.shown_scopes(frame, ("hospital_3",)) == [
        "hospital_3",
        "hospital_7",
        "hospital_20",
        "global",
    ]
    few = frame[frame["scope"].isin(["global", "hospital_1", "hospital_2"])]
    assert round_curves.worst_and_best(few) is None and len(round_curves.shown_scopes(few)) == 3


def test_a_run_label_names_strategy_privacy_attack_seed_state_and_start():
    run = {
        "id": "20261202-050423-ab12",
        "mode": "federated",
        "rounds_done": 3,
        "rounds_total": 10,
        "status": "running",
        "config": {
            "strategy": "scaffold",
            "backbone": "cnn",
            "dp": "off",
            "attack": "none",
            "attackers": 0,
            "seed": 3,
        },
    }
    assert data.run_label(run) == "SCAFFOLD · cnn · seed 3 · running 3/10 · 12-02 05:04"
    run["config"].update(dp="patient", dp_target_epsilon=8.0, attack="sign-flip", attackers=2)
    assert data.run_title(run) == "SCAFFOLD · cnn · DP ε 8 (patient) · sign-flip ×2 · seed 3"
    run["config"].update(dp="hospital", dp_target_epsilon=None)
    assert "DP (hospital)" in data.run_label(run)
    run["mode"] = "centralized"
    assert data.run_title(run).startswith("Centralized · cnn · DP (hospital)")
