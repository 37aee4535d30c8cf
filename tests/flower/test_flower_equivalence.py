"""A loopback Flower deployment (TLS, SuperNode authentication, warm executors) gives the in-process
run.

One deployment serves both runs, as one federation serves many runs: the plain run
must equal the in-process engine's, and the SecAgg+ run's revealed aggregate must be
plain FedAvg's within the quantisation error.
"""

from __future__ import annotations

import pytest

from fedcore.flower.site_watch import DONE, WORKING
from fedcore.run import engine
from fedcore.server.fit_facts import hospitals_only
from fedcore.store import RunStore
from testkit.loopback import LoopbackFederation
from testkit.store_watch import StoreWatch
from tests.flower.flower_support import (
    MAX_PER_HOSPITAL,
    flower_run_config,
    max_abs_difference,
    same_metrics,
    sites,
    small_config,
)

# Flower's SecAgg+ defaults: parameters clipped to +-8 and quantised to 2**22 levels.
CLIPPING_RANGE, QUANTIZATION_RANGE = 8.0, 2**22


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    """Three authenticated SuperNodes over the small federation (seed 7, 100 images each)."""
    work = tmp_path_factory.mktemp("flower")
    hospitals, global_test = sites(small_config(), work / "sites")
    with LoopbackFederation(work / "deployment", hospitals, global_test, auth=True) as deployment:
        yield deployment
    assert deployment.leftovers() == []


class HeartbeatWatch(StoreWatch):
    """Keeps each (step, sites) of the newest run's heartbeat it sees, looking every 50 ms."""

    def __init__(self, store: RunStore):
        super().__init__(store)
        self.seen: list[tuple[str, dict]] = []

    def look(self, runs: list[dict]) -> bool:
        beat = (runs[0].get("progress") or {}) if runs else {}
        seen = (beat.get("step"), beat.get("sites") or {})
        if seen[1] and seen not in self.seen:
            self.seen.append(seen)
        return False


def _run(federation: LoopbackFederation, run_config: dict) -> dict:
    """Submit a run; its record in the deployment's store once it finished."""
    store = RunStore(federation.store_home)
    earlier = {r["id"] for r in store.list_runs()}
    federation.run(run_config, timeout=300)
    (record,) = [r for r in store.list_runs() if r["id"] not in earlier]
    assert record["status"] == "finished", record["error"]
    return record


def test_flower_deployment_equals_in_process_run(federation, tmp_path):
    # Prepare: the same config and seed in process
    config = small_config(rounds=2)
    in_process = RunStore(tmp_path / "in-process")
    expected = engine.run(config, in_process, log=lambda line: None)

    # Execute: `flwr run . local-deployment` on the real SuperLink and SuperNodes, looking at the
    # run's heartbeat as Train does while it runs
    with HeartbeatWatch(RunStore(federation.store_home)) as heartbeats:
        run = _run(federation, flower_run_config(config))

    # Assert: same global weights, same metrics in every scope and round
    flower = RunStore(federation.store_home)
    assert run["mode"] == "federated" and run["config"]["extra"]["runtime"] == "flower"
    _, got = flower.load_checkpoint(run["id"], "last")
    _, want = in_process.load_checkpoint(expected.run_id, "last")
    assert max_abs_difference(got["global"], want["global"]) == 0.0
    got_metrics = {(m["round"], m["scope"]): m for m in flower.snapshot(run["id"])["metrics"]}
    want_metrics = {
        (m["round"], m["scope"]): m for m in in_process.snapshot(expected.run_id)["metrics"]
    }
    assert sorted(got_metrics) == sorted(want_metrics)
    for key, metrics in want_metrics.items():
        assert same_metrics(got_metrics[key], metrics) == [], key
    # Train saw each site inside the rounds: asked to train and evaluate, and answering, by name
    seen = {(name, site["state"]) for _, beat in heartbeats.seen for name, site in beat.items()}
    for name in ("hospital_1", "hospital_2", "hospital_3"):
        assert {(name, "training"), (name, "evaluating")} <= seen, sorted(seen)
    assert {state for _, state in seen} <= set(WORKING.values()) | set(DONE.values())
    # ... and never a step behind the progress line above it: evaluating, no site still trains
    for step, beat in heartbeats.seen:
        assert step != "evaluating" or "training" not in {s["state"] for s in beat.values()}
    rounds = flower.snapshot(run["id"])["rounds"]
    assert [r["fit"]["_round"]["participants"] for r in rounds] == [
        ["hospital_1", "hospital_2", "hospital_3"]
    ] * 2
    # The server's review of every update: the same geometry and flags as in process
    for got_round, want_round in zip(rounds, in_process.snapshot(expected.run_id)["rounds"]):
        for name, facts in hospitals_only(want_round["fit"]).items():
            got = got_round["fit"][name]
            for key in ("update_norm", "cos_aggregate", "cos_median"):
                assert got[key] == pytest.approx(facts[key], rel=1e-3, abs=1e-4), (name, key)
            assert (got["flagged"], got["flag_reason"]) == (facts["flagged"], facts["flag_reason"])
        assert got_round["fit"]["_round"]["flagged"] == want_round["fit"]["_round"]["flagged"]


def test_secagg_plus_aggregate_equals_fedavg(federation, tmp_path):
    # Prepare: one round (later rounds would train on from slightly different weights),
    # and plain FedAvg of the same seeded updates from the in-process engine
    config = small_config(rounds=1, strategy="fedavg")  # SecAgg+ reveals a weighted sum: FedAvg's
    plain = RunStore(tmp_path / "in-process")
    expected = engine.run(config, plain, log=lambda line: None)
    max_weight = float(MAX_PER_HOSPITAL)

    # Execute: SecAgg+ (with SuperNode authentication on, as the deployment has it)
    run = _run(
        federation,
        flower_run_config(config, **{"secure-aggregation": True, "secagg-max-weight": max_weight}),
    )

    # Assert: each hospital's weighted update is quantised with step 2*clip/levels; the
    # K errors add up, then divide by the total weight sum(n_k)/max_weight.
    secure = RunStore(federation.store_home)
    snapshot = secure.snapshot(run["id"])
    assert snapshot["rounds"][0]["fit"]["_round"]["secure_aggregation"] is True
    counts = [
        snapshot["rounds"][0]["fit"][h]["num_examples"]
        for h in ("hospital_1", "hospital_2", "hospital_3")
    ]
    step = 2 * CLIPPING_RANGE / QUANTIZATION_RANGE
    tolerance = 2 * len(counts) * step * max_weight / sum(counts)
    _, got = secure.load_checkpoint(run["id"], "last")
    _, want = plain.load_checkpoint(expected.run_id, "last")
    difference = max_abs_difference(got["global"], want["global"])
    assert difference <= tolerance, f"{difference:.2e} > {tolerance:.2e}"
