"""Attacks and server state in real (tiny) runs: who attacked is recorded, and a resumed run with
server-optimizer state, control variates or FedBN's kept normalisation ends identical to an
uninterrupted one."""

import numpy as np
import pytest

from fedcore.run import engine
from fedcore.run.engine import StopSignal
from tests.conftest import tiny_config

QUIET = {"log": lambda line: None}


def test_an_attack_run_records_its_attackers(store):
    # Prepare: four tiny hospitals, one sending sign-flipped updates, aggregated by the median.
    config = tiny_config(
        hospitals=4,
        rounds=1,
        max_per_hospital=60,
        attack="sign-flip",
        attackers=1,
        strategy="median",
    )
    # Execute
    result = engine.run(config, store, **QUIET)
    # Assert: an 'attack' event names the attacker; the round's fit facts mark it.
    snap = store.snapshot(result.run_id)
    event = next(e for e in snap["events"] if e["kind"] == "attack")
    attackers = event["data"]["attackers"]
    assert len(attackers) == 1 and attackers[0] in event["message"]
    fit = snap["rounds"][0]["fit"]
    assert fit["_round"]["attackers"] == attackers
    assert fit[attackers[0]]["attacker"] == 1
    assert all(
        "attacker" not in facts for name, facts in fit.items() if name not in attackers + ["_round"]
    )


def _stop_after_round_one(stop: StopSignal):
    def log(line: str) -> None:
        if line.startswith("round  1/"):
            stop.set()

    return log


@pytest.mark.parametrize(
    "strategy, normalization",
    [("fedadam", "none"), ("scaffold", "none"), ("fedavg", "fedbn")],
)
def test_resumed_run_with_server_state_equals_uninterrupted(store, strategy, normalization):
    # Prepare: an uninterrupted 3-round run, and the same run stopped after round 1.
    config = tiny_config(
        rounds=3, max_per_hospital=80, strategy=strategy, normalization=normalization
    )
    whole = engine.run(config, store, **QUIET)
    stop = StopSignal()
    first = engine.run(config, store, stop=stop, log=_stop_after_round_one(stop))
    assert first.status == "stopped" and first.rounds_done == 1
    # Execute
    resumed = engine.run(store=store, resume=first.run_id, **QUIET)
    # Assert: the same weights and the same server state at the end.
    assert resumed.status == "finished"
    for name in ("last", "server"):
        a = store.load_checkpoint(whole.run_id, name)[1]
        b = store.load_checkpoint(first.run_id, name)[1]
        assert set(a) == set(b) and a
        for key in a:
            for x, y in zip(a[key], b[key]):
                np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
