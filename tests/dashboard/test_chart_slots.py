"""The two stacked slots of each live curve: a new figure goes behind, the one on screen stays."""

from __future__ import annotations

from dashboard.chart_slots import FRONT_CLASS, FRONT_MARKER, next_slots


def held(slots: dict) -> list:
    return [None if s is None else s["token"] for s in slots["slots"]]


def test_the_first_figures_take_slot_0_in_front():
    slots = next_slots(None, "run-a", 1, {"accuracy": "fig 1"})
    assert slots["front"] == 0 and held(slots) == [1, None]


def test_a_refresh_with_the_same_figures_changes_nothing():
    slots = next_slots(None, "run-a", 1, "fig 1")
    assert next_slots(slots, "run-a", 1, "fig 1 rebuilt") is slots, (
        "the browser keeps the plot it drew"
    )


def test_a_new_round_goes_behind_and_comes_forward_while_the_previous_stays():
    slots = next_slots(None, "run-a", 1, "fig 1")
    slots = next_slots(slots, "run-a", 2, "fig 2")
    assert slots["front"] == 1 and held(slots) == [1, 2]
    assert slots["slots"][0]["figures"] == "fig 1", (
        "round 1 stays drawn under round 2 until round 2 is drawn"
    )
    slots = next_slots(slots, "run-a", 3, "fig 3")
    assert slots["front"] == 0 and held(slots) == [3, 2], (
        "round 3 replaces round 1, never the one on screen"
    )


def test_another_run_starts_again_from_one_slot():
    slots = next_slots(next_slots(None, "run-a", 1, "a1"), "run-a", 2, "a2")
    slots = next_slots(slots, "run-b", 1, "b1")
    assert slots["front"] == 0 and held(slots) == [1, None] and slots["owner"] == "run-b"


def test_the_front_marker_stacks_the_slots_and_hides_itself():
    assert f"class='{FRONT_CLASS}'" in FRONT_MARKER
    assert (
        "grid-area: 1 / 1" in FRONT_MARKER
        and f":has(.{FRONT_CLASS}) {{ z-index: 1; }}" in FRONT_MARKER
    )
    assert (
        f"div[data-testid='stElementContainer']:has(.{FRONT_CLASS}) {{ display: none; }}"
        in FRONT_MARKER
    )
