"""A SuperNode killed mid-run: the round completes without it, the dropout is recorded, it rejoins."""

from __future__ import annotations

import time

from tests.conftest import wait_for
from tests.loopback import LoopbackFederation
from fedcore.store import RunStore

from flower_support import flower_run_config, sites, small_config


def _event_seen(store_home, kind: str, server_round: int) -> bool:
    if not (store_home / "fedxray.sqlite").exists():
        return False
    runs = RunStore(store_home).list_runs()
    return bool(runs) and any(e["kind"] == kind and e["round"] == server_round
                              for e in RunStore(store_home).snapshot(runs[0]["id"])["events"])


def test_killed_supernode_drops_out_and_rejoins(tmp_path):
    # Prepare: three hospitals, three rounds, any two make a round
    config = small_config(rounds=3, max_per_hospital=60, seed=3)
    hospitals, global_test = sites(config, tmp_path / "sites")

    with LoopbackFederation(tmp_path / "deployment", hospitals, global_test) as federation:
        run = federation.submit(flower_run_config(config, **{"min-hospitals": 2, "round-timeout": 150.0}))
        try:
            # Execute: SIGKILL hospital_3's SuperNode while round 2 trains, then bring it back
            wait_for(lambda: _event_seen(federation.store_home, "round_started", 2), timeout=300,
                     what="round 2 to start", poll=0.5)
            time.sleep(1.0)
            federation.kill_node(2)
            federation.start_node(2)
            log, _ = run.communicate(timeout=420)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
        assert run.returncode == 0, log[-3000:]
    assert federation.leftovers() == []

    # Assert: round 2 went on with two hospitals and says who dropped; round 3 has all three
    store = RunStore(federation.store_home)
    (record,) = store.list_runs()
    assert record["status"] == "finished", record["error"]
    snapshot = store.snapshot(record["id"])
    dropped = [e for e in snapshot["events"] if e["kind"] == "hospital_dropped"]
    assert [(e["round"], e["data"]["hospital"]) for e in dropped] == [(2, "hospital_3")]
    participants = [r["fit"]["_round"]["participants"] for r in snapshot["rounds"]]
    assert participants == [["hospital_1", "hospital_2", "hospital_3"], ["hospital_1", "hospital_2"],
                            ["hospital_1", "hospital_2", "hospital_3"]]
    assert {m["scope"] for m in snapshot["metrics"] if m["round"] == 3} == {
        "global", "hospital_1", "hospital_2", "hospital_3"}
