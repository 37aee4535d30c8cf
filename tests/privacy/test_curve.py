"""The privacy curve: which runs are its points, and the CLI that trains the missing ones."""

import dataclasses
import math

import pytest

from fedcore.cli import main
from fedcore.config.run_config import RunConfig
from fedcore.privacy.curve import curve_configs, epsilon_of, on_curve, parse_epsilons, points
from fedcore.store import RunStore


def test_a_curve_is_its_federation_without_privacy_then_each_budget():
    base = RunConfig(rounds=4, seed=3, dp="hospital", dp_target_epsilon=2.0, dp_clip_norm=0.5)
    plain, *private = curve_configs(base, (1, 8), "patient")
    assert plain.dp == "off" and plain.dp_clip_norm == RunConfig().dp_clip_norm
    assert [(c.dp, c.dp_target_epsilon) for c in private] == [("patient", 1.0), ("patient", 8.0)]
    assert all((c.rounds, c.seed) == (4, 3) for c in (plain, *private))
    assert [epsilon_of(c.to_dict()) for c in (plain, *private)] == [math.inf, 1.0, 8.0]


def test_a_point_differs_from_its_federation_only_in_privacy():
    base = RunConfig(rounds=4)
    twin = dataclasses.replace(base, dp="patient", dp_target_epsilon=4.0, dp_clip_norm=2.0)
    assert on_curve(twin.to_dict(), base, "patient")
    assert on_curve(base.to_dict(), base, "hospital"), "the no-privacy point is on every curve"
    assert not on_curve(twin.to_dict(), base, "hospital"), "another level is another curve"
    other_seed = dataclasses.replace(twin, seed=7)
    assert not on_curve(other_seed.to_dict(), base, "patient")
    by_noise = dataclasses.replace(base, dp="patient", dp_noise_multiplier=1.2)
    assert not on_curve(by_noise.to_dict(), base, "patient"), "no target epsilon: no place"


def test_a_curves_points_are_the_newest_finished_run_at_each_epsilon():
    base = RunConfig(rounds=4)
    at_8 = dataclasses.replace(base, dp="patient", dp_target_epsilon=8.0).to_dict()
    runs = [  # newest first, as the store lists them
        {"id": "stopped", "status": "stopped", "config": at_8},
        {"id": "newer", "status": "finished", "config": at_8},
        {"id": "older", "status": "finished", "config": at_8},
        {"id": "plain", "status": "finished", "config": base.to_dict()},
        {"id": "other seed", "status": "finished", "config": RunConfig(seed=1).to_dict()},
    ]
    assert {e: r["id"] for e, r in points(runs, base, "patient").items()} == {
        8.0: "newer",
        math.inf: "plain",
    }


@pytest.mark.parametrize("text", ["", "1,a", "0,2", "-1", "inf"])
def test_epsilons_that_are_not_budgets_are_refused(text):
    with pytest.raises(ValueError, match="epsilons must be"):
        parse_epsilons(text)
    assert parse_epsilons("8, 1,2,2") == (1.0, 2.0, 8.0)


def test_the_cli_trains_the_missing_points_and_prints_the_curve(tmp_path, capsys):
    home = str(tmp_path / "store")
    tiny = ["--rounds", "1", "--max-per-hospital", "60", "--seed", "5"]
    assert main(["--home", home, "privacy-curve", *tiny, "--epsilons", "8"]) == 0
    first = capsys.readouterr().out
    runs = RunStore(home).list_runs()
    assert sorted(epsilon_of(r["config"]) for r in runs) == [8.0, math.inf]
    table = first[first.index("epsilon   spent") :].splitlines()
    assert len(table) == 3 and table[1].split()[:2] == ["8", "8.00"]
    assert table[2].startswith("no privacy")
    # Again with one more budget: only that one trains; the others are read back.
    assert main(["--home", home, "privacy-curve", *tiny, "--epsilons", "4,8"]) == 0
    again = capsys.readouterr().out
    assert again.count("already in the store") == 2 and len(RunStore(home).list_runs()) == 3
    like = runs[0]["id"]
    assert main(["--home", home, "privacy-curve", "--like", like, "--epsilons", "4,8"]) == 0
    assert capsys.readouterr().out.count("already in the store") == 3
    assert main(["--home", home, "privacy-curve", "--epsilons", "1,x"]) == 2
    assert capsys.readouterr().err.startswith("error: --epsilons: epsilons must be numbers")
