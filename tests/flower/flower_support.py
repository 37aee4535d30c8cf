"""Shared by the Flower tests: one small federation exported for SuperNodes, and comparisons."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fedcore.config.run_config import RunConfig
from fedcore.data.site import export_sites

# Kept small so that the real deployments of the Flower tests stay short on two cores.
MAX_PER_HOSPITAL = 100


def small_config(**overrides) -> RunConfig:
    """Like conftest.tiny_config, with 100 training images per hospital."""
    values = {"rounds": 2, "max_per_hospital": MAX_PER_HOSPITAL, "seed": 7}
    values.update(overrides)
    return RunConfig(**values)


def flower_run_config(config: RunConfig, **extra) -> dict:
    """The ``--run-config`` overrides that give a Flower run the same settings as ``config``."""
    return {
        "rounds": config.rounds,
        "seed": config.seed,
        "max-per-hospital": config.max_per_hospital or 0,
        "hospitals": config.hospitals,
        "strategy": config.strategy,
        **extra,
    }


def sites(config: RunConfig, folder: Path) -> tuple[list[Path], Path]:
    """Export ``config``'s federation; (hospital files in order, global test file)."""
    paths = export_sites(config, folder)
    return [paths[f"hospital_{i + 1}"] for i in range(config.hospitals)], paths["global_test"]


def max_abs_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Largest absolute difference between two weight lists of the same model."""
    assert [x.shape for x in a] == [y.shape for y in b]
    return max(
        float(np.abs(x.astype(np.float64) - y.astype(np.float64)).max()) for x, y in zip(a, b)
    )


def same_metrics(a: dict, b: dict, tolerance: float = 0.0) -> list[str]:
    """Names of the metrics that differ, by default in any bit (NaN equals NaN)."""

    def equal(x, y) -> bool:
        if isinstance(x, str) or isinstance(y, str):
            return x == y
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            return True
        return math.isclose(x, y, rel_tol=tolerance, abs_tol=tolerance)

    return sorted(k for k in set(a) | set(b) if k not in a or k not in b or not equal(a[k], b[k]))
