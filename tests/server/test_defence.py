"""The drop-flagged defence in front of any strategy, and an attacker's inflated image count."""

import numpy as np

from fedcore.payload import FitOutcome
from fedcore.run import engine
from fedcore.server.round_review import RoundReview
from fedcore.strategies import FedAvg, Krum, Median
from tests.conftest import tiny_config

GLOBAL = [np.zeros(20, np.float32)]


def _outcomes(seed=0):
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=20)
    outcomes = {
        f"hospital_{k}": FitOutcome(
            [(direction + 0.3 * rng.normal(size=20)).astype(np.float32)], 50, {}
        )
        for k in range(1, 7)
    }
    outcomes["hospital_4"] = FitOutcome([(-10 * direction).astype(np.float32)], 5000, {})
    return outcomes


def test_drop_flagged_leaves_the_outlier_out_of_any_strategy():
    for strategy in (FedAvg(), Median()):
        # Prepare
        review = RoundReview(strategy, drop_flagged=True)
        outcomes = _outcomes()
        # Execute
        kept = review.screen(outcomes, GLOBAL)
        merged = strategy.aggregate_fit(
            1, [(o.weights, o.num_examples) for o in kept.values()], GLOBAL
        )
        fit_info = {n: {} for n in outcomes} | {"_round": {}}
        review.annotate(fit_info, 1, outcomes, GLOBAL, merged)
        # Assert: the sign-flipped, 10x, 5000-image update is out; the recorded facts say so.
        assert "hospital_4" not in kept and len(kept) == 5
        assert fit_info["_round"]["dropped"] == ["hospital_4"]
        assert fit_info["_round"]["flagged"] == ["hospital_4"]
        assert fit_info["hospital_4"]["dropped"] == 1 and fit_info["hospital_1"]["dropped"] == 0
        assert fit_info["hospital_4"]["cos_median"] < -0.9


def test_without_the_defence_everything_is_aggregated():
    review = RoundReview(FedAvg())
    outcomes = _outcomes()
    assert review.screen(outcomes, GLOBAL) is outcomes


def test_an_attacker_claims_its_inflated_count_and_is_dropped(store):
    config = tiny_config(
        hospitals=5,
        rounds=2,
        max_per_hospital=60,
        attack="sign-flip",
        attackers=1,
        attack_claimed_examples=5000,
        defence="drop-flagged",
        strategy="fedavg",
    )
    result = engine.run(config, store, log=lambda line: None)
    assert result.status == "finished", result.error
    for row in store.snapshot(result.run_id)["rounds"]:
        fit = row["fit"]
        attacker = fit["_round"]["attackers"][0]
        assert fit[attacker]["num_examples"] == 5000
        assert fit["_round"]["dropped"] == [attacker]


def test_krum_reports_on_the_updates_it_was_given():
    strategy = Krum(byzantine=1, select=2)
    review = RoundReview(strategy, drop_flagged=True)
    outcomes = _outcomes()
    kept = review.screen(outcomes, GLOBAL)
    merged = strategy.aggregate_fit(1, [(o.weights, o.num_examples) for o in kept.values()], GLOBAL)
    fit_info = review.annotate(
        {n: {} for n in outcomes} | {"_round": {}}, 1, outcomes, GLOBAL, merged
    )
    assert "krum_kept" not in fit_info["hospital_4"]
    assert sum(fit_info[n]["krum_kept"] for n in kept) == 2
