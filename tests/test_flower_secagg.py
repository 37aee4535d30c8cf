"""SecAgg+ on a loopback deployment: the revealed aggregate is plain FedAvg's within quantisation error."""

from __future__ import annotations

from fedcore import engine
from tests.loopback import LoopbackFederation
from fedcore.store import RunStore

from flower_support import MAX_PER_HOSPITAL, flower_run_config, max_abs_difference, sites, small_config

# Flower's SecAgg+ defaults: parameters clipped to +-8 and quantised to 2**22 levels.
CLIPPING_RANGE, QUANTIZATION_RANGE = 8.0, 2**22


def test_secagg_plus_aggregate_equals_fedavg(tmp_path):
    # Prepare: one round (later rounds would train on from slightly different weights),
    # and plain FedAvg of the same seeded updates from the in-process engine
    config = small_config(rounds=1, strategy="fedavg")  # SecAgg+ reveals a weighted sum: FedAvg's
    hospitals, global_test = sites(config, tmp_path / "sites")
    plain = RunStore(tmp_path / "in-process")
    expected = engine.run(config, plain, log=lambda line: None)
    max_weight = float(MAX_PER_HOSPITAL)

    # Execute: SecAgg+ with SuperNode authentication on
    with LoopbackFederation(tmp_path / "deployment", hospitals, global_test, auth=True) as federation:
        federation.run(flower_run_config(config, **{"secure-aggregation": True, "secagg-max-weight": max_weight}),
                       timeout=360)
    assert federation.leftovers() == []

    # Assert: each hospital's weighted update is quantised with step 2*clip/levels; the
    # K errors add up, then divide by the total weight sum(n_k)/max_weight.
    secure = RunStore(federation.store_home)
    (run,) = secure.list_runs()
    assert run["status"] == "finished", run["error"]
    snapshot = secure.snapshot(run["id"])
    assert snapshot["rounds"][0]["fit"]["_round"]["secure_aggregation"] is True
    counts = [snapshot["rounds"][0]["fit"][h]["num_examples"] for h in ("hospital_1", "hospital_2", "hospital_3")]
    step = 2 * CLIPPING_RANGE / QUANTIZATION_RANGE
    tolerance = 2 * len(counts) * step * max_weight / sum(counts)
    _, got = secure.load_checkpoint(run["id"], "last")
    _, want = plain.load_checkpoint(expected.run_id, "last")
    difference = max_abs_difference(got["global"], want["global"])
    assert difference <= tolerance, f"{difference:.2e} > {tolerance:.2e}"
