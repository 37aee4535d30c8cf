"""The price of privacy: one federation trained at several privacy budgets and without privacy,
and which stored runs are points of that curve.

A point is a run whose settings equal the federation's in everything but the privacy settings;
its place on the curve is its target epsilon (infinite without privacy).
"""

from __future__ import annotations

import dataclasses
import math

from fedcore.config.run_config import RunConfig

# The settings a curve varies; every other setting is the federation's.
PRIVACY_SETTINGS = (
    "dp",
    "dp_noise_multiplier",
    "dp_clip_norm",
    "dp_delta",
    "dp_target_epsilon",
    "dp_budget",
)
EPSILONS = (1.0, 2.0, 4.0, 8.0)
LEVELS = ("patient", "hospital")


def without_privacy(config: RunConfig) -> RunConfig:
    """``config`` with every privacy setting at its default (privacy off)."""
    defaults = RunConfig()
    return dataclasses.replace(config, **{n: getattr(defaults, n) for n in PRIVACY_SETTINGS})


def curve_configs(base: RunConfig, epsilons, level: str) -> list[RunConfig]:
    """The runs of ``base``'s curve: without privacy, then ``level`` DP at each target epsilon
    (the DP defaults, such as the batch size, follow from the level as for any run)."""
    plain = without_privacy(base)
    return [plain] + [
        dataclasses.replace(plain, dp=level, dp_target_epsilon=float(e)) for e in epsilons
    ]


def epsilon_of(config: dict) -> float:
    """A run's place on a curve: its target epsilon, infinite without privacy (NaN for a DP run
    set by its noise multiplier, which has no target)."""
    if config.get("dp", "off") == "off":
        return math.inf
    target = config.get("dp_target_epsilon")
    return math.nan if target is None else float(target)


def on_curve(config: dict, base: RunConfig, level: str) -> bool:
    """Whether a stored run's ``config`` is a point of ``base``'s curve at ``level``."""
    theirs = RunConfig.from_dict(config)
    if theirs.dp not in ("off", level) or math.isnan(epsilon_of(config)):
        return False
    return without_privacy(theirs) == without_privacy(base)


def points(runs: list[dict], base: RunConfig, level: str) -> dict[float, dict]:
    """The points of ``base``'s curve at ``level`` among ``runs`` (newest first, as the store
    lists them): epsilon -> the newest finished run there."""
    newest: dict[float, dict] = {}
    for run in runs:
        if run["status"] == "finished" and on_curve(run["config"], base, level):
            newest.setdefault(epsilon_of(run["config"]), run)
    return newest


def parse_epsilons(text: str) -> tuple[float, ...]:
    """'1,2,4,8' -> (1.0, 2.0, 4.0, 8.0); ValueError naming what is wrong."""
    try:
        values = tuple(sorted({float(t) for t in text.split(",") if t.strip()}))
    except ValueError:
        raise ValueError(
            f"epsilons must be numbers separated by commas, like 1,2,4,8 (got {text!r})"
        ) from None
    if not values or any(not (0 < v < math.inf) for v in values):
        raise ValueError(f"epsilons must be positive and finite, like 1,2,4,8 (got {text!r})")
    return values
