"""A loopback Flower deployment (TLS, one SuperNode per hospital) gives the in-process engine's run."""

from __future__ import annotations

from fedcore import engine
from tests.loopback import LoopbackFederation
from fedcore.store import RunStore

from flower_support import flower_run_config, max_abs_difference, same_metrics, sites, small_config


def test_flower_deployment_equals_in_process_run(tmp_path):
    # Prepare: the same config and seed, its federation exported one file per hospital
    config = small_config(rounds=2)
    hospitals, global_test = sites(config, tmp_path / "sites")
    in_process = RunStore(tmp_path / "in-process")
    expected = engine.run(config, in_process, log=lambda line: None)

    # Execute: real SuperLink and SuperNodes on 127.0.0.1, `flwr run . local-deployment`
    with LoopbackFederation(tmp_path / "deployment", hospitals, global_test) as federation:
        federation.run(flower_run_config(config), timeout=360)
    assert federation.leftovers() == []

    # Assert: same global weights, same metrics in every scope and round
    flower = RunStore(federation.store_home)
    (run,) = flower.list_runs()
    assert run["status"] == "finished", run["error"]
    assert run["mode"] == "federated" and run["config"]["extra"]["runtime"] == "flower"
    _, got = flower.load_checkpoint(run["id"], "last")
    _, want = in_process.load_checkpoint(expected.run_id, "last")
    assert max_abs_difference(got["global"], want["global"]) <= 1e-5
    got_metrics = {(m["round"], m["scope"]): m for m in flower.snapshot(run["id"])["metrics"]}
    want_metrics = {(m["round"], m["scope"]): m for m in in_process.snapshot(expected.run_id)["metrics"]}
    assert sorted(got_metrics) == sorted(want_metrics)
    for key, metrics in want_metrics.items():
        assert same_metrics(got_metrics[key], metrics) == [], key
    rounds = flower.snapshot(run["id"])["rounds"]
    assert [r["fit"]["_round"]["participants"] for r in rounds] == [["hospital_1", "hospital_2", "hospital_3"]] * 2
