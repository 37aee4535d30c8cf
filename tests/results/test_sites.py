"""Each site's state in a deployed run, read from the rounds and the drop events the server
recorded."""

from fedcore.results.sites import site_states


def snapshot(participants: list[list[str]], drops: list[tuple[int, str]]) -> dict:
    return {
        "run": {
            "data_summary": {"hospitals": {"hospital_1": {}, "hospital_2": {}, "hospital_3": {}}}
        },
        "rounds": [
            {"round": r, "finished": 1000.0 + r, "fit": {"_round": {"participants": names}}}
            for r, names in enumerate(participants, start=1)
        ],
        "events": [
            {"kind": "hospital_dropped", "round": r, "data": {"hospital": name}}
            for r, name in drops
        ],
    }


def test_a_site_that_dropped_out_and_came_back_says_so_with_its_last_contact():
    every = ["hospital_1", "hospital_2", "hospital_3"]
    states = site_states(
        snapshot([every, ["hospital_1", "hospital_2"], every], [(2, "hospital_3")])
    )
    by_name = {s["hospital"]: s for s in states}
    assert [s["hospital"] for s in states] == every
    assert by_name["hospital_1"] == {
        "hospital": "hospital_1",
        "state": "taking part",
        "rounds": 3,
        "last_round": 3,
        "last_contact": 1003.0,
        "now": None,
        "since": None,
    }
    assert by_name["hospital_3"]["state"] == "back since round 3"
    assert by_name["hospital_3"]["rounds"] == 2


def test_a_site_still_out_and_one_never_heard_from():
    states = site_states(snapshot([["hospital_1", "hospital_2"]] * 2, [(2, "hospital_2")]))
    assert [s["state"] for s in states] == [
        "taking part",
        "dropped in round 2",
        "not heard from yet",
    ]
    assert states[2]["last_contact"] is None and states[2]["rounds"] == 0


def test_a_live_run_shows_what_each_site_does_inside_the_round_and_its_last_answer():
    every = ["hospital_1", "hospital_2", "hospital_3"]
    live = snapshot([every], [])
    live["run"]["progress"] = {
        "round": 2,
        "step": "training",
        "sites": {
            "hospital_1": {"state": "trained", "since": 1010.0, "contact": 1010.0},
            "hospital_2": {"state": "training", "since": 1004.0, "contact": None},
            "hospital_3": {"state": "not connected", "since": 1004.0, "contact": None},
        },
    }
    states = {s["hospital"]: s for s in site_states(live)}
    assert [states[n]["now"] for n in every] == ["trained", "training", "not connected"]
    assert states["hospital_2"]["since"] == 1004.0
    # The last answer inside the round is the latest contact; before it, the round's finish.
    assert [states[n]["last_contact"] for n in every] == [1010.0, 1001.0, 1001.0]
    # A finished run keeps no heartbeat: only the rounds speak.
    assert all(s["now"] is None for s in site_states(snapshot([every], [])))
