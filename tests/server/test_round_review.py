"""A real tiny federation records every update's geometry and contribution in its fit facts."""

import math

from fedcore.server.fit_facts import hospitals_only


def test_every_round_records_geometry_flags_and_contributions(tiny_run):
    store, run_id = tiny_run
    rounds = store.snapshot(run_id)["rounds"]
    assert rounds
    for row in rounds:
        fit = row["fit"]
        assert fit["_round"]["flagged"] == []
        assert 0.5 < fit["_round"]["validation_auroc"] <= 1
        for facts in hospitals_only(fit).values():
            assert facts["update_norm"] > 0
            assert -1 <= facts["cos_aggregate"] <= 1 and -1 <= facts["cos_median"] <= 1
            assert facts["flagged"] == 0 and facts["flag_reason"] == ""
            assert math.isfinite(facts["contribution"])
