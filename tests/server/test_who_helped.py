"""A run's flags and contributions read back from literal stored rounds."""

import pytest

from fedcore.results.report import every_figure
from fedcore.server.who_helped import (
    contribution_sentences,
    contributions_by_hospital,
    flag_notes,
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
