"""A privacy budget spent round by round: the run stops at the last round that fits, and the
epsilon it records never exceeds the budget."""

import pytest

from fedcore.errors import FedXrayError
from fedcore.privacy import accounting, spending
from fedcore.run import engine
from tests.conftest import tiny_config


def test_the_last_round_is_the_last_whose_epsilon_fits():
    spender = spending.Spender(
        noise_multiplier=1.0, delta=1e-5, sampling_rate=0.1, steps_per_round=10
    )
    per_round = [spender.epsilon_after(r) for r in range(1, 11)]
    assert per_round == sorted(per_round), "epsilon only grows"
    allowed = (per_round[3] + per_round[4]) / 2  # between rounds 4 and 5
    assert spending.last_round([spender], allowed, 10) == 4
    assert per_round[3] <= allowed < per_round[4]
    assert spending.last_round([spender], None, 10) == 10 and spending.last_round([], 0.1, 10) == 10
    assert spending.last_round([spender], per_round[0] / 2, 10) == 0


def test_the_tightest_hospital_decides_and_hospital_level_uses_the_gaussian_accountant():
    loose = spending.Spender(2.0, 1e-5, 0.05, 5)
    tight = spending.Spender(0.8, 1e-5, 0.2, 5)
    allowed = tight.epsilon_after(3)
    assert spending.last_round([loose, tight], allowed, 10) == 3
    gaussian = spending.Spender(5.0, 1e-5)
    assert gaussian.epsilon_after(4) == accounting.gaussian_rounds_epsilon(5.0, 4, 1e-5)


def test_a_run_with_a_budget_stops_within_it_and_says_so(store):
    config = tiny_config(rounds=4, dp="hospital", dp_noise_multiplier=3.0)
    allowed = accounting.gaussian_rounds_epsilon(3.0, 2, config.dp_delta) + 1e-6
    result = engine.run(
        tiny_config(rounds=4, dp="hospital", dp_noise_multiplier=3.0, dp_budget=allowed),
        store,
        log=lambda line: None,
    )
    assert (result.status, result.rounds_done) == ("finished", 2)
    snap = store.snapshot(result.run_id)
    spent = [e for e in snap["events"] if e["kind"] == "budget_spent"]
    assert len(spent) == 1 and "after round 2 of 4" in spent[0]["message"]
    recorded = [
        f["epsilon"] for r in snap["rounds"] for h, f in r["fit"].items() if "epsilon" in f
    ] or [r["fit"]["_round"].get("epsilon") for r in snap["rounds"]]
    assert recorded and max(e for e in recorded if e is not None) <= allowed


def test_a_budget_that_one_round_overspends_is_refused():
    with pytest.raises(FedXrayError, match="spent before the first round ends"):
        from fedcore.privacy import mechanism
        from fedcore.privacy.dp_strategy import DPFedAvg
        from fedcore.strategies import FedAvg

        config = tiny_config(dp="hospital", dp_budget=0.01)
        mechanism.last_round_within_budget(config, [], DPFedAvg(FedAvg(), 3, 1.0, 1.0, 1e-5))
