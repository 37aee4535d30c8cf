"""A run's flags and contributions read back from literal stored rounds."""

import pytest

from fedcore.results.report import every_figure
from fedcore.server.update_geometry import reason_rules
from fedcore.server.who_helped import (
    contribution_sentences,
    contributions_by_hospital,
    flag_notes,
    report_lines,
    round_flag_note,
)

ROUNDS = [
    {
        "round": 1,
        "fit": {
            "_round": {"flagged": []},
            "hospital_1": {"flagged": 0, "contribution": 0.02},
            "hospital_2": {"flagged": 0, "contribution": -0.01},
        },
    },
    {
        "round": 2,
        "fit": {
            "_round": {"flagged": ["hospital_2"]},
            "hospital_1": {"flagged": 0, "contribution": 0.01},
            "hospital_2": {
                "flagged": 1,
                "flag_reason": "update 9.8x the median norm",
                "contribution": -0.03,
            },
        },
    },
    {
        "round": 3,
        "fit": {
            "hospital_2": {"flagged": 1, "flag_reason": "points away from the others: cosine -0.94"}
        },
    },
]


def test_flag_notes_name_the_rounds_and_the_latest_reason():
    assert flag_notes(ROUNDS[:2]) == {"hospital_2": "(flagged round 2: 9.8x norm)"}
    assert flag_notes(ROUNDS) == {"hospital_2": "(flagged in 2 rounds, last round 3: cosine -0.94)"}


def test_contributions_sum_over_the_rounds_that_scored_them():
    totals = contributions_by_hospital(ROUNDS)
    assert totals == {"hospital_1": pytest.approx(0.03), "hospital_2": pytest.approx(-0.04)}
    sentences = contribution_sentences(ROUNDS)
    assert sentences[0].startswith("over 2 round(s), hospital_1's updates added 0.030")
    assert sentences[1].startswith("over 2 round(s), hospital_2's updates took 0.040 from")


def test_the_round_log_names_the_flagged_hospitals():
    assert round_flag_note(ROUNDS[1]["fit"]) == (
        "  | flagged: hospital_2 (update 9.8x the median norm)"
    )
    assert round_flag_note(ROUNDS[0]["fit"]) == ""


def test_the_export_carries_each_hospital_update_facts(tiny_run):
    run_store, run_id = tiny_run
    frame = every_figure(run_store.snapshot(run_id))
    hospitals = frame[frame["test_set"] != "global"]
    assert hospitals["update_norm"].notna().all() and (hospitals["flagged"] == 0).all()
    assert frame[frame["test_set"] == "global"]["update_norm"].isna().all()


def test_the_report_says_per_hospital_its_contribution_and_its_flagged_rounds_with_why():
    attack = {"kind": "attack", "data": {"attackers": ["hospital_2"]}}
    lines = report_lines({"rounds": ROUNDS, "events": [attack]})
    assert lines[0].startswith("Who helped and who was flagged (contribution: ")
    assert lines[1] == "  hospital_1: contribution +0.030; never flagged in 2 round(s)"
    assert lines[2] == (
        "  hospital_2 (attacker): contribution -0.040; flagged in 2 of 3 rounds (norm 1, "
        "direction 1); round 3: points away from the others: cosine -0.94"
    )
    defended = [
        {"round": 1, "fit": {"hospital_2": {"flagged": 1, "dropped": 1, "flag_reason": ""}}}
    ]
    assert report_lines({"rounds": defended, "events": []})[1].endswith(
        "; left out of the aggregate in 1"
    )


def test_the_report_says_nothing_of_a_run_that_recorded_no_review():
    assert report_lines({"rounds": [{"round": 1, "fit": {"hospital_1": {}}}], "events": []}) == []


def test_a_reason_names_its_rules_in_a_fixed_order():
    reason = "points away from the others: cosine -0.2; update 5.2x the median norm"
    assert reason_rules(reason) == ["norm", "direction"]
    assert reason_rules("claims 5000 images, 13.6x the median") == ["image count"]
