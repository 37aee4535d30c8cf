"""Did the run learn? The three health rules and the showcase run, on literal runs."""

from fedcore.results import health, showcase
from tests.results.literal_runs import figures, learning_round, snapshot


def test_a_run_that_learns_is_healthy_and_says_its_headline():
    verdict = health.assess(snapshot([learning_round(0.9, 0.5), learning_round(0.96, 0.3)]))
    assert verdict.learned and verdict.advice == ""
    assert verdict.line == "learned: AUROC 0.960, accuracy 0.904 at t = 0.300"


def test_a_model_that_calls_everyone_pneumonia_did_not_learn():
    everyone = {
        "global": figures(0.93, 0.5, (390, 234, 0, 0), (390, 234, 0, 0)),
        "hospital_1": figures(0.9, 0.5, (130, 78, 0, 0), (130, 78, 0, 0)),
    }
    verdict = health.assess(snapshot([everyone]))
    assert not verdict.learned
    assert verdict.reason == "it calls every image PNEUMONIA at t = 0.300"


def test_a_diverging_loss_did_not_learn_even_with_a_fair_auroc():
    verdict = health.assess(snapshot([learning_round(0.9, 0.5), learning_round(0.8, 3.2)]))
    assert not verdict.learned
    assert verdict.reason == "its loss rose from 0.50 in round 1 to 3.20"


def test_an_auroc_near_chance_did_not_learn_and_a_dp_run_gets_privacy_advice():
    # A patient-level DP run recorded before operating points existed: figures at 0.5 only.
    dp_run = snapshot(
        [
            {"global": figures(0.62, 7.1, (300, 200, 34, 90))},
            {"global": figures(0.66, 6.4, (250, 150, 84, 140))},
        ],
        dp="patient",
        dp_target_epsilon=8.0,
    )
    verdict = health.assess(dp_run)
    assert not verdict.learned and verdict.reason == "AUROC 0.66 at round 2 (0.5 is chance)"
    assert "privacy" in verdict.advice and verdict.line.startswith("did not learn: AUROC 0.66")


def test_a_run_before_its_first_round_has_no_verdict():
    assert health.assess(snapshot([])) is None


def test_the_showcase_is_the_best_finished_run_that_learned_never_the_newest_broken_one():
    good = snapshot([learning_round(0.95)], run_id="good")
    better_running = snapshot([learning_round(0.97)], run_id="running", status="running")
    broken = snapshot([learning_round(0.55)], run_id="broken")
    snaps = {s["run"]["id"]: s for s in (broken, better_running, good)}
    runs = [snaps[i]["run"] for i in ("broken", "running", "good")]  # newest first
    chosen = showcase.showcase(runs, lambda run: showcase.judge(snaps[run["id"]]))
    assert chosen["id"] == "good"
    assert showcase.showcase([broken["run"]], lambda run: showcase.judge(broken)) is None
