"""The Flower run config (pyproject.toml's [tool.flwr.app.config]) as a RunConfig."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.flower.app_config import (
    FLOWER_DEFAULTS,
    app_config_toml,
    flower_settings,
    from_run_config,
)

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pyproject_run_config_is_runconfigs_defaults():
    # Prepare
    app_config = tomllib.loads(PYPROJECT.read_text())["tool"]["flwr"]["app"]["config"]

    # Execute
    config = from_run_config(app_config)

    # Assert: the same defaults in both places, plus the Flower-only settings
    defaults = RunConfig().to_dict()
    got = config.to_dict()
    keys = [s.name for s in flower_settings()]
    assert {"rounds", "image_size", "dp_target_epsilon"} <= set(keys)
    assert not {"data", "partition", "alpha", "acquisition_shift"} & set(keys), (
        "a SuperNode's data is its own"
    )
    for key in keys:
        assert got[key] == defaults[key], key
    assert config.mode == "federated"
    assert config.extra == {**FLOWER_DEFAULTS, "runtime": "flower"}


def test_kebab_keys_and_zero_means_default():
    config = from_run_config(
        {
            "local-epochs": 2,
            "max-per-hospital": 0,
            "learning-rate": 0.0,
            "image-size": 32,
            "secure-aggregation": True,
        }
    )
    assert (
        config.local_epochs,
        config.max_per_hospital,
        config.learning_rate,
        config.image_size,
    ) == (2, None, None, 32)
    assert config.extra["secure_aggregation"] is True


def test_a_setting_that_cannot_run_is_a_user_error():
    with pytest.raises(FedXrayError, match="rounds"):
        from_run_config({"rounds": 0})


def test_dp_settings_travel_in_the_run_config():
    config = from_run_config(
        {"dp": "patient", "dp-target-epsilon": 8.0, "dp-delta": 1e-6, "batch-size": 1024}
    )
    assert (config.dp, config.dp_target_epsilon, config.dp_delta) == ("patient", 8.0, 1e-6)
    assert from_run_config({"dp-target-epsilon": 0.0}).dp_target_epsilon is None
    with pytest.raises(FedXrayError, match="delta"):
        from_run_config({"dp": "patient", "dp-delta": 1.0})


def test_pyproject_holds_the_generated_run_config():
    # `python -m fedcore settings --flower` writes it: regenerate when a setting changes.
    assert app_config_toml() in PYPROJECT.read_text()
