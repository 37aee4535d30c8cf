"""Run settings declared once (fedcore.config.settings): every entry point reads the declaration."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import run_form
from fedcore import cli
from fedcore.config import flags
from fedcore.config.run_config import RunConfig
from fedcore.config.settings import markdown_table, setting, settings
from fedcore.errors import FedXrayError
from fedcore.flower.app_config import app_config_toml, from_run_config

ROOT = Path(__file__).resolve().parents[2]


def config_with_a_new_setting():
    """A copy of RunConfig with one more declared field, as a contributor would add it."""
    return dataclasses.make_dataclass(
        "WiderConfig",
        [("mu", float, setting(0.01, "FedProx proximal weight", minimum=0.0, maximum=1.0))],
        bases=(RunConfig,),
    )


def test_a_new_field_reaches_help_parsing_flags_flower_and_readme_table():
    # Prepare
    wider = config_with_a_new_setting()
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    train_wider = type(train)(prog="train")
    flags.add_config_flags(train_wider, wider)

    # Execute
    help_text = train_wider.format_help()
    parsed = flags.config_from_args(train_wider.parse_args(["--mu", "0.2"]), wider)
    rendered = flags.train_flags(wider(mu=0.3))
    in_form = [s.name for s in run_form.unplaced(wider)]
    flower = from_run_config({"mu": 0.4}, wider)

    # Assert
    assert "--mu" in help_text and "FedProx proximal weight (default: 0.01)" in help_text
    assert parsed.mu == 0.2
    assert "mu" in in_form, "drawn under the form's Advanced"
    assert rendered[-2:] == ["--mu", "0.3"]
    assert flower.mu == 0.4
    assert "mu = 0.01" in app_config_toml(wider)
    assert "| `--mu` | 0.01 | between 0 and 1 | FedProx proximal weight |" in markdown_table(wider)
    with pytest.raises(FedXrayError, match="mu must be between 0 and 1"):
        wider(mu=2.0).validate()


def test_the_readme_holds_the_current_options_table():
    # `python -m fedcore settings --markdown` writes it: regenerate when a setting changes.
    assert markdown_table(RunConfig) in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    "flag,value,words",
    [
        ("--seed", "-1", "seed must be between 0 and 2147483647"),
        ("--seed", "1e20", "seed must be between 0 and 2147483647"),
        ("--seed", "2.5", "seed must be a whole number"),
        ("--learning-rate", "inf", "learning rate must be a finite number"),
        ("--dp-clip-norm", "inf", "the DP clipping norm must be a finite number"),
        ("--dp-noise-multiplier", "inf", "the DP noise multiplier must be a finite number"),
        ("--alpha", "nan", "alpha must be a finite number"),
        ("--threshold", "1", "threshold must be between 0 and 1, exclusive"),
    ],
)
def test_numbers_out_of_range_or_not_finite_are_one_clear_error(flag, value, words):
    args = cli.build_parser().parse_args(["train", flag, value])
    with pytest.raises(FedXrayError, match=words):
        flags.config_from_args(args).validate()


def test_every_setting_has_help_and_a_valid_default():
    for s in settings(RunConfig):
        assert s.help, s.name
        assert s.problem(s.default) is None, s.name
        if s.kind is float and s.default is not None:
            assert math.isfinite(s.default)


def test_settings_beside_resume_are_refused_in_words(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedcore",
            "--home",
            str(tmp_path),
            "train",
            "--resume",
            "x",
            "--rounds",
            "20",
            "--no-class-weighting",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "error: --resume continues a run with the settings it started with, so --rounds, "
        "--no-class-weighting "
        "cannot change it: drop them, or start a new run with the settings you want"
    )


@pytest.mark.parametrize(
    "hospitals,fraction,epochs",
    [(1, 1.0, 1), (3, 1.0, 1), (10, 0.3, 3), (30, 0.1, 10), (100, 0.05, 10)],
)
def test_unset_fraction_and_local_epochs_follow_the_hospital_count(hospitals, fraction, epochs):
    config = RunConfig(hospitals=hospitals)
    assert config.fraction == pytest.approx(fraction)
    assert config.epochs == epochs


def test_a_set_fraction_or_local_epochs_is_kept_and_epochs_follow_a_set_fraction():
    assert RunConfig(hospitals=30, fraction_fit=1.0).epochs == 1
    assert RunConfig(hospitals=30, fraction_fit=0.5, local_epochs=4).epochs == 4
    assert RunConfig(hospitals=30, fraction_fit=0.5).fraction == 0.5


@pytest.mark.parametrize("changes", [{"strategy": "krum"}, {"attack": "sign-flip", "attackers": 2}])
def test_robust_rules_and_attacks_keep_every_hospital_each_round(changes):
    config = RunConfig(hospitals=10, **changes)
    assert (config.fraction, config.epochs) == (1.0, 1)


@pytest.mark.parametrize("mode", ["centralized", "local"])
def test_centralized_and_local_keep_one_epoch_a_round_at_any_size(mode):
    assert RunConfig(hospitals=30, mode=mode).epochs == 1


def test_unset_local_epochs_is_0_in_flower_where_every_supernode_trains():
    assert "local-epochs = 0" in app_config_toml(RunConfig)
    config = from_run_config({"local-epochs": 0, "hospitals": 30})
    assert config.local_epochs is None
    assert (config.fraction, config.epochs) == (1.0, 1)
