"""The Train page during an attack: the legend marks the attackers and their flags round by round,
the Attack demo button starts the demo's federation, and a demo's two runs share one chart."""

from __future__ import annotations

import json

from fedcore.run import attack_demo, launch
from tests.conftest import tiny_config, wait_for
from tests.dashboard.test_app_pages import assert_clean, legend, open_page

NAMES = [f"hospital_{k}" for k in range(1, 11)]
ATTACKERS = ["hospital_4", "hospital_7"]
REST = {"auroc": 0.9, "loss": 0.4, "sensitivity": 0.9, "specificity": 0.8, "f1": 0.85}


def attacked_run(store, config=None, rounds=(1, 2), finish=True) -> str:
    """A stored run of 10 hospitals whose two attackers the server flagged every round."""
    config = config or tiny_config(hospitals=10, attack="sign-flip", attackers=2)
    run_id = store.create_run(config.to_dict(), 2, "federated")  # this process: alive, 'running'
    store.event(
        run_id,
        "attack",
        "hospital_4, hospital_7 will send sign-flip updates",
        level="warning",
        data={"attack": "sign-flip", "attackers": ATTACKERS},
    )
    for r in rounds:
        land_round(store, run_id, r)
    if finish:
        store.finish(run_id, "finished")
    return run_id


def land_round(store, run_id: str, r: int, auroc: float = 0.9) -> None:
    fit = {
        h: {"flagged": int(h in ATTACKERS), "num_examples": 100}
        | (
            {"flag_reason": "update 9.8x the median norm; claims 5000 images, 14.3x the median"}
            if h in ATTACKERS
            else {}
        )
        for h in NAMES
    }
    metrics = {"global": {"accuracy": 0.8, **REST, "auroc": auroc}} | {
        h: {"accuracy": 0.5 + k / 50, **REST} for k, h in enumerate(NAMES)
    }
    store.record_round(run_id, r, metrics, {}, fit, 1.0, r)


def test_the_legend_marks_the_attackers_and_their_flags_while_the_run_is_live(store):
    run_id = attacked_run(store, rounds=(1,), finish=False)
    at = open_page("views/train.py")
    assert_clean(at)
    line = legend(at)
    for name in ("Hospital 4", "Hospital 7"):
        shown = line.split(name, 1)[1].split("&nbsp;", 1)[0]
        assert "(attacker)" in shown and "(flagged round 1: 9.8x norm, 14.3x images)" in shown
    assert line.count("flagged") == 2, "the honest hospitals are not flagged"
    land_round(store, run_id, 2)
    at.run()
    assert legend(at).count("(flagged in 2 rounds, last round 2: 9.8x norm") == 2
    store.finish(run_id, "finished")


def test_the_attack_demo_button_starts_the_demo_federation(store):
    at = open_page("views/train.py")
    at.button(key="attack_demo").click().run()
    assert_clean(at)
    (run,) = store.list_runs()
    try:
        assert run["config"] == attack_demo.UNDEFENDED.to_dict(), "the demo's settings, no defence"
        events = store.snapshot(run["id"])["events"]
        assert attack_demo.pair_of(events) == attack_demo.Pair(run["id"])
        assert at.session_state["run_id"] == run["id"], "the page shows the demo's run"
        assert any("Attack demo" in m.value for m in at.markdown), "the comparison panel is up"
        assert any("starts when the run without the defence ends" in c.value for c in at.caption)
        assert at.button(key="attack_demo").disabled, "one run trains at a time"
    finally:
        launch.stop(store, run["id"])
        wait_for(lambda: launch.active_run(store) is None, what="the demo's child to stop")


def test_a_finished_demo_shows_both_runs_on_one_chart_with_the_attackers_flagged(store):
    first = attacked_run(store, attack_demo.UNDEFENDED)
    second = attacked_run(store, attack_demo.DEFENDED)
    pair = {"undefended": first, "defended": second}
    for run_id in (first, second):
        store.event(run_id, attack_demo.EVENT, "attack demo", data=pair)
    at = open_page("views/train.py")
    assert_clean(at)
    (chart,) = [
        json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Without" in c.proto.spec
    ]
    assert [t["name"] for t in chart["data"]] == ["Without the defence", "With drop-flagged"]
    assert all(t["text"] == ["flagged: Hospital 4, Hospital 7"] * 2 for t in chart["data"])
    captions = " ".join(c.value for c in at.caption)
    assert f"run `{first}`" in captions and f"run `{second}`" in captions
    assert captions.count(":red[Hospital 4] flagged in 2 of 2 rounds") == 2


def test_the_page_follows_the_demo_to_the_defended_run(store):
    first = attacked_run(store, attack_demo.UNDEFENDED)
    at = open_page("views/train.py")
    at.session_state["run_id"] = first
    second = attacked_run(store, attack_demo.DEFENDED, rounds=(1,), finish=False)
    for run_id in (first, second):
        store.event(
            run_id, attack_demo.EVENT, "attack demo", data={"undefended": first, "defended": second}
        )
    at.run()
    assert_clean(at)
    store.finish(second, "finished")
    at.run()
    assert at.session_state["run_id"] == second, "the demo's newest run, once it ended"
    assert any(f"Run `{second}`" in c.value for c in at.caption)


def test_a_demo_whose_second_run_was_refused_says_why(store):
    first = attacked_run(store, attack_demo.UNDEFENDED)
    why = "the run with the defence did not start: run x is still training"
    store.event(first, attack_demo.EVENT, why, data={"undefended": first, "refused": why})
    store.set_pid(first, 2**22 + 1)  # its process has ended
    at = open_page("views/train.py")
    assert_clean(at)
    assert any(c.value == f"With drop-flagged: {why}." for c in at.caption)


def test_train_draws_each_hospitals_contribution_round_by_round_when_scored(store):
    run_id = attacked_run(store, rounds=(1,), finish=False)
    at = open_page("views/train.py")
    assert_clean(at)
    assert not [c for c in at.get("plotly_chart") if "AUROC it added" in c.proto.spec]
    # A round whose server scored contributions (leave one out): the attackers' are negative.
    fit = {
        h: {"num_examples": 100, "contribution": -0.2 if h in ATTACKERS else 0.01} for h in NAMES
    }
    metrics = {"global": {"accuracy": 0.8, **REST}} | {h: {"accuracy": 0.6, **REST} for h in NAMES}
    store.record_round(run_id, 2, metrics, {}, fit, 1.0, 2)
    at.run()
    assert_clean(at)
    (chart,) = [
        json.loads(c.proto.spec) for c in at.get("plotly_chart") if "AUROC it added" in c.proto.spec
    ]
    assert [t["name"] for t in chart["data"]] == [f"Hospital {k}" for k in range(1, 11)]
    assert any("how much lower the global model's validation AUROC" in c.value for c in at.caption)
    store.finish(run_id, "finished")
