"""A Flower run config as fedcore's RunConfig, read by the ServerApp and the ClientApp alike.

The keys of ``[tool.flwr.app.config]`` in pyproject.toml are RunConfig's declared
settings that a Flower run may set (fedcore.config.settings, ``flower=True``), in kebab-case
(``local-epochs`` is ``local_epochs``); ``flwr run --run-config`` overrides them. TOML
has no null, so 0 stands for "the default" where a setting is optional.
:func:`app_config_toml` writes that table; a test checks pyproject.toml holds it.
The settings that exist only on Flower go to ``RunConfig.extra`` with their defaults
below, and ``extra['runtime'] = 'flower'`` marks the run in the store.

Where a hospital's images are is not here: it is the SuperNode's node config.
"""

from __future__ import annotations

from collections.abc import Mapping

from fedcore.config.run_config import RunConfig
from fedcore.config.settings import settings
from fedcore.errors import FedXrayError

FLOWER_DEFAULTS = {
    # Aggregate with SecAgg+ (the server learns only the sum of the hospitals' updates).
    "secure_aggregation": False,
    # A round completes with at least this many hospitals; fewer ends the run as failed.
    "min_hospitals": 2,
    # Seconds the server waits for a round's replies before going on without the late ones.
    "round_timeout": 600.0,
    # Seconds to wait at the start for `hospitals` SuperNodes to connect.
    "wait_for_hospitals": 120.0,
    # SecAgg+ weights each update by num_examples / max_weight; must be at least the
    # largest hospital's training count, and larger values cost quantisation precision.
    "secagg_max_weight": 10000.0,
    # The id of a stopped or failed Flower run in the run store to continue from its last
    # completed round, given with the run config it started with ("": a new run).
    "resume": "",
}


def flower_settings(cls: type = RunConfig) -> list:
    """The declared settings a Flower run config may set (data and partitioning are each node's
    own)."""
    return [s for s in settings(cls) if s.flower]


def app_config_toml(cls: type = RunConfig) -> str:
    """The ``[tool.flwr.app.config]`` table: every Flower setting's default, then the Flower-only
    ones.

    ``python -m fedcore settings --flower`` prints it for pyproject.toml.
    """
    lines = ["[tool.flwr.app.config]"]
    for s in flower_settings(cls):
        default = s.kind(0) if s.default is None else s.default
        lines.append(f"{s.key} = {toml_value(default)}")
    lines.append("# Flower only (fedcore/flower/app_config.py).")
    lines += [
        f"{key.replace('_', '-')} = {toml_value(value)}" for key, value in FLOWER_DEFAULTS.items()
    ]
    return "\n".join(lines)


def from_run_config(values: Mapping, cls: type = RunConfig) -> RunConfig:
    """The RunConfig of a Flower run config (``context.run_config``).

    Parameters
    ----------
    values : mapping of str to scalar
        Kebab-case keys as in ``[tool.flwr.app.config]``.

    Returns
    -------
    RunConfig
        Validated, mode ``federated``, with the Flower-only settings in ``extra``.

    Raises
    ------
    FedXrayError
        For a setting that cannot run (see RunConfig.validate).
    """
    snake = {key.replace("-", "_"): value for key, value in values.items()}
    for s in flower_settings(cls):
        if s.optional and snake.get(s.name) == 0:
            snake[s.name] = None
    config = cls.from_dict(snake)
    config.mode = "federated"
    config.extra = {**FLOWER_DEFAULTS, **config.extra, "runtime": "flower"}
    return config.validate()


def refuse_what_secure_aggregation_hides(config: RunConfig) -> None:
    """FedXrayError for settings that need each hospital's update, which SecAgg+ hides."""
    if config.dp == "hospital" and config.extra["secure_aggregation"]:
        raise FedXrayError(
            "hospital-level DP clips each hospital's update, which SecAgg+ hides from the server: "
            "choose one of them (patient-level DP works with SecAgg+)"
        )
    if config.strategy == "scaffold" and config.extra["secure_aggregation"]:
        raise FedXrayError(
            "scaffold needs each hospital's own update (its control variate follows from it), "
            "which SecAgg+ hides from the server: choose one of them (fedavg, fedprox, fedadam "
            "work with SecAgg+)"
        )


def toml_value(value) -> str:
    """A run-config value as TOML writes it (pyproject's table, ``flwr run --run-config``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
