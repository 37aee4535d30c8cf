"""Server aggregation rules, one small class each, pure numpy, chosen by ``--strategy``.

May import from fedcore: errors, config.
"""

from __future__ import annotations

from fedcore.config.run_config import RunConfig
from fedcore.strategies.base import (
    FedAvg,
    FitResult,
    NDArrays,
    Strategy,
    aggregate,
    cosine_learning_rate,
    mean_update,
)
from fedcore.strategies.drift import FedProx, Scaffold
from fedcore.strategies.robust import Krum, Median, TrimmedMean
from fedcore.strategies.server_optimizers import FedAdam, FedAvgM, FedYogi

__all__ = [
    "FedAdam",
    "FedAvg",
    "FedAvgM",
    "FedProx",
    "FedYogi",
    "FitResult",
    "Krum",
    "Median",
    "NDArrays",
    "Scaffold",
    "Strategy",
    "TrimmedMean",
    "aggregate",
    "cosine_learning_rate",
    "keeps_state",
    "make_strategy",
    "mean_update",
]

# Server learning rates when --server-learning-rate is not given.
DEFAULT_SERVER_LR = {"fedavgm": 1.0, "scaffold": 1.0, "fedadam": 0.01, "fedyogi": 0.01}


def make_strategy(config: RunConfig, hospitals: int) -> Strategy:
    """The strategy ``config.strategy`` names, with its settings and the clients' lr schedule.

    Parameters
    ----------
    config : RunConfig
        strategy, lr, lr_schedule, rounds and the strategy's own settings.
    hospitals : int
        The hospitals in the federation: SCAFFOLD scales its control update by the share that
        trained.
    """
    lr = config.lr if config.lr_schedule == "cosine" else None
    rounds = config.rounds
    server_lr = config.server_learning_rate or DEFAULT_SERVER_LR.get(config.strategy, 1.0)
    build = {
        "fedavg": lambda: FedAvg(lr, rounds),
        "fedprox": lambda: FedProx(lr, rounds, mu=config.proximal_mu),
        "fedavgm": lambda: FedAvgM(lr, rounds, server_lr, config.server_momentum),
        "fedadam": lambda: FedAdam(lr, rounds, server_lr, beta1=config.server_momentum),
        "fedyogi": lambda: FedYogi(lr, rounds, server_lr, beta1=config.server_momentum),
        "scaffold": lambda: Scaffold(
            config.lr,
            rounds,
            hospitals,
            config.epochs,
            config.batch,
            cosine=config.lr_schedule == "cosine",
            server_learning_rate=server_lr,
        ),
        "median": lambda: Median(lr, rounds),
        "trimmed-mean": lambda: TrimmedMean(lr, rounds, config.trim_beta),
        "krum": lambda: Krum(lr, rounds, config.krum_byzantine, config.krum_select),
    }
    return build[config.strategy]()


def keeps_state(config: RunConfig) -> bool:
    """Whether a run carries state between rounds (server moments, control variates, the
    hospitals' own normalisation under FedBN), without which a resumed run would not equal an
    uninterrupted one."""
    return config.mode == "federated" and (
        make_strategy(config, 1).keeps_state or config.normalization == "fedbn"
    )
