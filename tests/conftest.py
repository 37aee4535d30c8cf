"""Shared fixtures: a private run store per test, one really-trained tiny run and the unusable
--weights files per session."""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from fedcore.config.run_config import RunConfig  # noqa: E402


def tiny_config(**overrides) -> RunConfig:
    """A 2-round federation on a small subset of the embedded data: a few seconds on 2 cores."""
    values = {"rounds": 2, "max_per_hospital": 150, "seed": 7}
    values.update(overrides)
    return RunConfig(**values)


def wait_for(predicate, timeout: float = 120.0, what: str = "condition", poll: float = 0.05):
    """The first truthy value of ``predicate()``, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty run store in a temporary FEDCORE_HOME."""
    from fedcore.store import RunStore

    monkeypatch.setenv("FEDCORE_HOME", str(tmp_path / "home"))
    return RunStore(tmp_path / "home")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(store, run_id) of a finished 2-round federation, trained for real once per session."""
    from fedcore.run import engine
    from fedcore.store import RunStore

    home = tmp_path_factory.mktemp("tiny-home")
    run_store = RunStore(home)
    result = engine.run(tiny_config(), run_store, log=lambda line: None)
    assert result.status == "finished", result.error
    return run_store, result.run_id


@pytest.fixture
def tiny_home(tiny_run, monkeypatch):
    """FEDCORE_HOME pointing at the session's trained tiny run."""
    run_store, run_id = tiny_run
    monkeypatch.setenv("FEDCORE_HOME", str(run_store.home))
    return run_store, run_id


@pytest.fixture(scope="session")
def weights_files(tmp_path_factory) -> dict[str, Path]:
    """Every kind of unusable --weights file for mobilenetv3small, made with Keras itself."""
    import keras
    import numpy as np

    from fedcore.model.networks import build_model

    folder = tmp_path_factory.mktemp("weights")
    backbone = build_model(RunConfig(backbone="mobilenetv3small", seed=1)).backbone
    good = folder / "good.weights.h5"
    backbone.save_weights(good)
    weights = backbone.get_weights()
    weights[1][0] = np.nan
    backbone.set_weights(weights)
    backbone.save_weights(folder / "nan.weights.h5")
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    other.save_weights(folder / "other.weights.h5")
    (folder / "empty.weights.h5").write_bytes(b"")
    (folder / "text.weights.h5").write_text("not weights")
    (folder / "cut.weights.h5").write_bytes(good.read_bytes()[:100_000])
    (folder / "a folder").mkdir()
    return {
        "NaN weights": folder / "nan.weights.h5",
        "another architecture": folder / "other.weights.h5",
        "empty": folder / "empty.weights.h5",
        "text": folder / "text.weights.h5",
        "truncated": folder / "cut.weights.h5",
        "a folder": folder / "a folder",
        "missing": folder / "gone.weights.h5",
    }
