"""A short real federation end to end, reproducibility, a failing hospital, stop and resume."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from fedcore.errors import FedXrayError
from fedcore.hospital.training import Hospital
from fedcore.run import engine
from fedcore.store import RunStore
from tests.conftest import tiny_config, wait_for

QUIET = dict(log=lambda line: None)


def _global_rows(store, run_id):
    return [m for m in store.snapshot(run_id)["metrics"] if m["scope"] == "global"]


def test_tiny_federation_end_to_end(tiny_run):
    store, run_id = tiny_run
    snap = store.snapshot(run_id)
    run = snap["run"]
    assert run["status"] == "finished" and run["rounds_done"] == 2 and run["error"] is None
    scopes = {(m["round"], m["scope"]) for m in snap["metrics"]}
    assert scopes == {
        (r, s) for r in (1, 2) for s in ("global", "hospital_1", "hospital_2", "hospital_3")
    }
    final = _global_rows(store, run_id)[-1]
    assert final["n"] == 624 and final["tp"] + final["fn"] == 390
    assert (
        0.5 < final["auroc"] <= 1.0
    )  # it learned something in two rounds on 150 images a hospital
    assert set(run["data_summary"]["hospitals"]) == {"hospital_1", "hospital_2", "hospital_3"}
    fit = snap["rounds"][0]["fit"]
    assert fit["hospital_1"]["num_examples"] <= 150 and fit["_round"]["failed"] == []
    done, models = store.load_checkpoint(run_id, "last")
    assert done == 2 and list(models) == ["global"]
    best_round, _ = store.load_checkpoint(run_id, "best")
    assert best_round == run["best_round"]
    assert [e["kind"] for e in snap["events"]].count("round_started") == 2


def test_one_prediction_for_every_hospital_scores_each_as_its_own_evaluation_would(tiny_run):
    from fedcore.data import load_federation
    from fedcore.model.networks import build_model
    from fedcore.results.operating_point import strip_counts

    # Prepare: the tiny run's final weights and metrics (scored from one batched prediction)
    store, run_id = tiny_run
    _, models = store.load_checkpoint(run_id, "last")
    recorded = {m["scope"]: m for m in store.snapshot(run_id)["metrics"] if m["round"] == 2}
    config = tiny_config()
    built = build_model(config)

    # Execute: each hospital evaluates the same weights on its own, as a Flower SuperNode does
    for index, data in enumerate(load_federation(config).hospitals):
        alone = Hospital(data, built, config, index).evaluate(models["global"])

        # Assert
        for key, value in strip_counts(alone).items():
            assert recorded[data.name][key] == pytest.approx(value, abs=1e-6, nan_ok=True), key


def test_same_seed_same_metrics_and_different_seed_differs(store):
    a = engine.run(tiny_config(), store, **QUIET)
    b = engine.run(tiny_config(), store, **QUIET)
    c = engine.run(tiny_config(seed=8), store, **QUIET)
    ra, rb, rc = (_global_rows(store, r.run_id) for r in (a, b, c))
    for x, y in zip(ra, rb):
        assert x["auroc"] == pytest.approx(y["auroc"], abs=1e-9) and x["tp"] == y["tp"]
    assert any(x["auroc"] != z["auroc"] for x, z in zip(ra, rc))


def test_centralized_and_local_modes(store):
    central = engine.run(tiny_config(mode="centralized", rounds=1), store, **QUIET)
    local = engine.run(tiny_config(mode="local", rounds=1), store, **QUIET)
    assert central.status == local.status == "finished"
    snap = store.snapshot(central.run_id)
    assert list(snap["rounds"][0]["fit"]) == ["pooled", "_round"]
    scopes = {m["scope"] for m in store.snapshot(local.run_id)["metrics"]}
    assert {
        "global:hospital_1",
        "hospital_1",
        "global:hospital_3",
    } <= scopes and "global" not in scopes
    _, models = store.load_checkpoint(local.run_id, "last")
    assert set(models) == {"hospital_1", "hospital_2", "hospital_3"}


def test_a_hospital_failing_mid_round_is_logged_and_the_round_goes_on(store, monkeypatch):
    real_fit = Hospital.fit

    def flaky_fit(self, weights, server_round, *args, **kwargs):
        if self.name == "hospital_2" and server_round == 2:
            raise OSError("disk unplugged")
        return real_fit(self, weights, server_round, *args, **kwargs)

    monkeypatch.setattr(Hospital, "fit", flaky_fit)
    result = engine.run(tiny_config(), store, **QUIET)
    assert result.status == "finished"
    snap = store.snapshot(result.run_id)
    failed = [e for e in snap["events"] if e["kind"] == "hospital_failed"]
    assert len(failed) == 1 and failed[0]["round"] == 2 and "disk unplugged" in failed[0]["message"]
    assert snap["rounds"][1]["fit"]["_round"]["failed"] == ["hospital_2"]
    assert "hospital_2" not in snap["rounds"][1]["fit"]


def test_every_hospital_failing_fails_the_run_in_plain_words(store, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Hospital, "fit", broken)
    result = engine.run(tiny_config(), store, **QUIET)
    assert result.status == "failed" and "every hospital failed" in result.error
    assert store.get_run(result.run_id)["error"] == result.error


def test_bad_data_path_fails_before_a_run_exists(store, tmp_path):
    with pytest.raises(FedXrayError, match="does not exist"):
        engine.run(tiny_config(data=str(tmp_path / "missing")), store, **QUIET)
    assert store.list_runs() == []


def test_a_data_error_found_while_loading_leaves_no_run_behind(store, tmp_path):
    # Prepare: the layout's top folders exist, so the settings pass; the data itself is wrong
    (tmp_path / "d" / "HOSPITAL" / "hospital_1" / "train" / "COVID").mkdir(parents=True)
    (tmp_path / "d" / "GLOBAL_TEST_DATASET").mkdir()

    # Execute / Assert: refused before a run row exists (the CLI then exits 2 with one line)
    with pytest.raises(FedXrayError, match="unknown class folder"):
        engine.run(tiny_config(data=str(tmp_path / "d")), store, **QUIET)
    assert store.list_runs() == []


def test_resume_refuses_running_and_finished_runs(tiny_run, store):
    finished_store, finished = tiny_run
    with pytest.raises(FedXrayError, match=f"run {finished} already finished all 2 rounds"):
        engine.run(store=finished_store, resume=finished, **QUIET)
    running = store.create_run(
        tiny_config().to_dict(), 2, "federated"
    )  # this live process 'trains' it
    with pytest.raises(
        FedXrayError, match=f"run {running} is still running: stop it before resuming"
    ):
        engine.run(store=store, resume=running, **QUIET)
    assert store.get_run(running)["status"] == "running", "the running run is untouched"


def _train_process(home, *args):
    env = {**os.environ, "FEDCORE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "fedcore", "train", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_stops_after_the_current_step_and_resume_equals_an_uninterrupted_run(tmp_path):
    flags = ["--rounds", "4", "--max-per-hospital", "150", "--seed", "7"]
    home = tmp_path / "home"
    proc = _train_process(home, *flags)
    store = RunStore(home)
    try:
        run = wait_for(lambda: next((r for r in store.list_runs() if r["rounds_done"] >= 1), None))
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 3, out
    stopped = store.get_run(run["id"])
    assert stopped["status"] == "stopped" and 1 <= stopped["rounds_done"] < 4
    assert "resume" in out
    kept = stopped["rounds_done"]

    resumed = _train_process(home, "--resume", run["id"])
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    final = store.snapshot(run["id"])
    assert final["run"]["status"] == "finished"
    assert [r["round"] for r in final["rounds"]] == [1, 2, 3, 4]  # none lost, none repeated
    assert [e["round"] for e in final["events"] if e["kind"] == "resumed"] == [kept + 1]

    straight = _train_process(home, *flags)
    out, _ = straight.communicate(timeout=300)
    assert straight.returncode == 0, out
    newest = store.latest_run()["id"]
    a = _global_rows(store, run["id"])
    b = _global_rows(store, newest)
    for x, y in zip(a, b):
        assert x["auroc"] == pytest.approx(y["auroc"], abs=1e-6) and x["tp"] == y["tp"], (x, y)
    _, wa = store.load_checkpoint(run["id"], "last")
    _, wb = store.load_checkpoint(newest, "last")
    for x, y in zip(wa["global"], wb["global"]):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_a_reader_polling_during_a_run_only_ever_sees_whole_rounds(tmp_path):
    home = tmp_path / "home"
    proc = _train_process(home, "--rounds", "3", "--max-per-hospital", "100", "--seed", "3")
    store = RunStore(home)
    seen_rounds = set()

    def only_whole_rounds_until_the_end() -> bool:
        for run in store.list_runs():
            snap = store.snapshot(run["id"])
            done = snap["run"]["rounds_done"]
            rounds = [r["round"] for r in snap["rounds"]]
            assert rounds == list(range(1, done + 1))
            per_round = {}
            for m in snap["metrics"]:
                per_round.setdefault(m["round"], set()).add(m["scope"])
            assert set(per_round) == set(rounds)
            assert all(
                s == {"global", "hospital_1", "hospital_2", "hospital_3"}
                for s in per_round.values()
            )
            seen_rounds.add(done)
        return proc.poll() is not None

    try:
        wait_for(only_whole_rounds_until_the_end, timeout=240, what="the run to end", poll=0)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert len(seen_rounds) >= 2  # the reader really watched the run progress


def test_a_killed_process_shows_as_failed_not_running_forever(tmp_path):
    home = tmp_path / "home"
    proc = _train_process(home, "--rounds", "50", "--max-per-hospital", "100")
    store = RunStore(home)
    try:
        run = wait_for(lambda: next((r for r in store.list_runs() if r["rounds_done"] >= 1), None))
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    record = next(r for r in store.list_runs() if r["id"] == run["id"])
    assert record["status"] == "failed" and "ended unexpectedly" in record["error"]


def test_round_fit_info_carries_the_servers_privacy_spend_to_every_hospital():
    from fedcore.payload import FitOutcome
    from fedcore.server.fit_facts import round_fit_info

    weights = [np.zeros((2, 2), np.float32)]
    outcomes = {
        "h1": FitOutcome(weights, 5, {"fit_seconds": 1.0}),
        "h2": FitOutcome(weights, 7, {"fit_seconds": 2.0}),
    }
    info = round_fit_info(outcomes, ["h1", "h2", "h3"], weights, {"epsilon": 3.5, "delta": 1e-5})
    assert info["h1"]["epsilon"] == info["h2"]["epsilon"] == 3.5 and info["h2"]["num_examples"] == 7
    assert info["_round"]["failed"] == ["h3"] and info["_round"]["bytes_received_each"] == 16
    assert "epsilon" not in round_fit_info(outcomes, ["h1", "h2"], weights)["h1"]
