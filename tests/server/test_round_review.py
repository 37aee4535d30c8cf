"""A real tiny federation records every update's geometry and contribution in its fit facts."""

import math

from fedcore.run import engine
from fedcore.server.fit_facts import hospitals_only
from tests.conftest import tiny_config


def test_every_round_records_geometry_flags_and_contributions(store):
    result = engine.run(tiny_config(contribution=True), store, log=lambda line: None)
    assert result.status == "finished", result.error
    rounds = store.snapshot(result.run_id)["rounds"]
    assert len(rounds) == 2
    for row in rounds:
        fit = row["fit"]
        assert fit["_round"]["flagged"] == []
        assert 0.5 < fit["_round"]["validation_auroc"] <= 1
        for facts in hospitals_only(fit).values():
            assert facts["update_norm"] > 0
            assert -1 <= facts["cos_aggregate"] <= 1 and -1 <= facts["cos_median"] <= 1
            assert facts["flagged"] == 0 and facts["flag_reason"] == ""
            assert math.isfinite(facts["contribution"])


def test_without_contribution_the_geometry_is_still_recorded(tiny_run):
    run_store, run_id = tiny_run
    fit = run_store.snapshot(run_id)["rounds"][-1]["fit"]
    assert "validation_auroc" not in fit["_round"]
    assert all("update_norm" in f for f in hospitals_only(fit).values())
