"""A Flower run config as fedcore's RunConfig, read by the ServerApp and the ClientApp alike.

The keys of ``[tool.flwr.app.config]`` in pyproject.toml are RunConfig's fields in
kebab-case (``local-epochs`` is ``local_epochs``); ``flwr run --run-config`` overrides
them. TOML has no null, so 0 stands for "the default" where RunConfig takes None.
The settings that exist only on Flower go to ``RunConfig.extra`` with their defaults
below, and ``extra['runtime'] = 'flower'`` marks the run in the store.

Where a hospital's images are is not here: it is the SuperNode's node config.
"""

from __future__ import annotations

from collections.abc import Mapping

from fedcore.config import RunConfig

# TOML cannot say None: 0 means "the backbone's default" / "no cap".
ZERO_MEANS_DEFAULT = ("image_size", "max_per_hospital", "learning_rate", "dp_target_epsilon")

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
}


def from_run_config(values: Mapping) -> RunConfig:
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
    for key in ZERO_MEANS_DEFAULT:
        if snake.get(key) == 0:
            snake[key] = None
    config = RunConfig.from_dict(snake)
    config.mode = "federated"
    config.extra = {**FLOWER_DEFAULTS, **config.extra, "runtime": "flower"}
    return config.validate()
