"""The attack demo: two runs, one after the other, that name each other; the CLI's summary."""

from __future__ import annotations

import dataclasses

import pytest

from fedcore.cli import main
from fedcore.run import attack_demo
from fedcore.run.attack_demo import Pair, pair_of
from fedcore.run.signals import StopSignal
from fedcore.store import RunStore
from tests.conftest import tiny_config


@pytest.fixture
def small_demo(monkeypatch):
    """The demo's shape on a few images: 4 hospitals, 1 attacker, 2 rounds : seconds."""
    small = tiny_config(
        hospitals=4,
        strategy="fedavg",
        attack="sign-flip",
        attackers=1,
        attack_claimed_examples=5000,
        local_epochs=1,
        max_per_hospital=40,
    )
    monkeypatch.setattr(attack_demo, "UNDEFENDED", small)
    monkeypatch.setattr(attack_demo, "DEFENDED", dataclasses.replace(small, defence="drop-flagged"))
    return small


def test_the_demo_is_the_attack_table_federation():
    # docs/strategies.md's attack table: 10 Dirichlet hospitals, 2 sign-flipping attackers
    # claiming 5000 images, FedAvg; the defended half differs in the defence only.
    demo = attack_demo.UNDEFENDED
    assert (demo.hospitals, demo.partition, demo.strategy, demo.attack, demo.attackers) == (
        10,
        "dirichlet",
        "fedavg",
        "sign-flip",
        2,
    )
    assert demo.attack_claimed_examples == 5000 and demo.defence == "none"
    assert dataclasses.replace(attack_demo.DEFENDED, defence="none") == demo
    assert attack_demo.DEFENDED.defence == "drop-flagged"


def test_a_run_outside_a_demo_has_no_pair():
    assert pair_of([{"kind": "attack", "data": {"attackers": ["hospital_2"]}}]) is None
    events = [
        {"kind": "attack_demo", "data": {"undefended": "a"}},
        {"kind": "attack_demo", "data": {"undefended": "a", "defended": "b"}},
    ]
    assert pair_of(events[:1]) == Pair("a") and pair_of(events) == Pair("a", "b")


def test_the_defended_run_is_coming_while_the_first_runs_process_lives(store):
    first = store.create_run(tiny_config().to_dict(), 2, "federated")  # this process: alive
    store.finish(first, "finished")
    assert attack_demo.defended_run_coming(store.get_run(first), Pair(first))
    assert not attack_demo.defended_run_coming(store.get_run(first), Pair(first, "second"))
    assert not attack_demo.defended_run_coming(store.get_run(first), Pair(first, refused="busy"))
    store.set_pid(first, 2**22 + 1)  # no such process
    assert not attack_demo.defended_run_coming(store.get_run(first), Pair(first))


def busy_after_the_first(monkeypatch):
    """Another process creates a run the moment the demo's first half ends."""
    finish = RunStore.finish

    def finish_then_busy(self, run_id, status, error=None):
        finish(self, run_id, status, error)
        if status == "finished" and len(self.list_runs()) == 1:
            self.create_run(tiny_config().to_dict(), 2, "federated")  # this process: alive

    monkeypatch.setattr(RunStore, "finish", finish_then_busy)


def test_a_run_started_between_the_two_is_said_on_the_first(store, small_demo, monkeypatch):
    busy_after_the_first(monkeypatch)
    first, second = attack_demo.run_pair(store, StopSignal(), log=lambda line: None)
    assert first.status == "finished" and second is None
    pair = pair_of(store.snapshot(first.run_id)["events"])
    assert pair.defended is None and "did not start: run " in pair.refused
    assert "is still training" in pair.refused


def test_the_cli_says_so_in_one_error_line(store, small_demo, monkeypatch, capsys):
    busy_after_the_first(monkeypatch)
    assert main(["--home", str(store.home), "attack-demo"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: the run with the defence did not start: run ")


def test_the_cli_trains_both_halves_and_says_who_was_flagged(store, small_demo, capsys):
    assert main(["--home", str(store.home), "attack-demo"]) == 0
    out = capsys.readouterr().out
    second, first = store.list_runs()  # newest first
    assert first["config"]["defence"] == "none" and second["config"]["defence"] == "drop-flagged"
    assert first["status"] == second["status"] == "finished"
    for run in (first, second):
        assert pair_of(store.snapshot(run["id"])["events"]) == Pair(first["id"], second["id"])
    assert f"without the defence: run {first['id']} (finished), global AUROC" in out
    assert f"with drop-flagged: run {second['id']} (finished), global AUROC" in out
    assert "(attacker) flagged in" in out


def test_a_stop_during_the_first_run_ends_the_demo(store, small_demo):
    stop = StopSignal()
    stop.set()
    first, second = attack_demo.run_pair(store, stop, log=lambda line: None)
    assert first.status == "stopped" and second is None
    assert [r["id"] for r in store.list_runs()] == [first.run_id], "the second never started"


def test_report_says_per_hospital_how_many_rounds_it_was_flagged(store, small_demo, capsys):
    first, _second = attack_demo.run_pair(store, StopSignal(), log=lambda line: None)
    capsys.readouterr()
    assert main(["--home", str(store.home), "report", first.run_id]) == 0
    out = capsys.readouterr().out.split("Who helped and who was flagged", 1)[1].splitlines()
    (attacker,) = [line for line in out if "(attacker):" in line]
    assert "flagged in 2 of 2 rounds (norm 2, image count 2, direction 1); round 2: " in attacker
    assert len([line for line in out if line.startswith("  hospital_")]) == 4
