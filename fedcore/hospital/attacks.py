"""Simulated misbehaving hospitals: who attacks and what they send instead of their update.

They are what the robust aggregators (median, trimmed mean, Krum) are tested against. An
attacker trains as usual, then replaces its honest update u = w_k - w_global: ``sign-flip``
sends -s u, ``scale`` sends s u, ``noise`` sends Gaussian noise of about s times the honest
update's norm. ``label-flip`` instead trains on its images with the labels swapped: an honest
update about wrong data. With ``attack_claimed_examples`` an attacker also claims that many
training images, so that FedAvg, which weighs updates by the counts hospitals report, gives
its poisoned update most of the weight.
"""

from __future__ import annotations

import numpy as np

from fedcore.config.run_config import RunConfig
from fedcore.data import HospitalData, Split
from fedcore.payload import FitOutcome

# Salt of the attackers' draw, apart from every other use of the run's seed.
_SALT = 404


def attackers(config: RunConfig, names: list[str]) -> list[str]:
    """The ``config.attackers`` hospitals that attack, drawn by the run's seed; none outside
    federated mode, since centralized and local runs are the honest references."""
    if config.attack == "none" or not config.attackers or config.mode != "federated":
        return []
    chosen = np.random.default_rng([config.seed, _SALT]).choice(
        len(names), min(config.attackers, len(names)), replace=False
    )
    return [names[i] for i in sorted(chosen)]


def announcement(config: RunConfig, names: list[str]) -> tuple[str, dict]:
    """(message, data) of the run's ``attack`` event: who attacks, how."""
    return (
        f"{', '.join(names)} will send {config.attack} updates (scale {config.attack_scale:g})",
        {"attack": config.attack, "attackers": names, "scale": config.attack_scale},
    )


def training_data(data: HospitalData, config: RunConfig, names: list[str]) -> HospitalData:
    """The data a hospital trains on: under label-flip, an attacker's training labels swapped
    (its validation and test splits untouched)."""
    if config.attack != "label-flip" or data.name not in names:
        return data
    train = Split(data.train.images, (1 - data.train.labels).astype(data.train.labels.dtype))
    return HospitalData(data.name, train, data.val, data.test)


def sent_by_attacker(
    outcome: FitOutcome,
    global_weights: list[np.ndarray],
    config: RunConfig,
    server_round: int,
    index: int,
) -> FitOutcome:
    """The attacker's poisoned outcome, marked ``attacker`` in the round's fit facts."""
    rng = np.random.default_rng([config.seed, server_round, index, _SALT])
    poisoned = poison(outcome, global_weights, config.attack, config.attack_scale, rng)
    # A hospital's image count is its own word: an attacker may claim more to weigh more.
    claimed = config.attack_claimed_examples or poisoned.num_examples
    return FitOutcome(poisoned.weights, claimed, {**poisoned.metrics, "attacker": 1})


def poison(
    outcome: FitOutcome,
    global_weights: list[np.ndarray],
    attack: str,
    scale: float,
    rng: np.random.Generator,
) -> FitOutcome:
    """What an attacker sends instead of ``outcome`` (label-flip poisons the data, not the update).

    Parameters
    ----------
    outcome : FitOutcome
        The honest result of local training.
    global_weights : list of np.ndarray
        The weights the round started from.
    attack : str
        sign-flip, scale, noise or label-flip.
    scale : float
        s: the factor of sign-flip and scale, the noise's norm in honest-update norms.
    rng : np.random.Generator
        The noise source (seeded by round and hospital: a resumed run repeats it).
    """
    if attack == "label-flip":
        return outcome
    updates = [np.asarray(w, np.float64) - g for w, g in zip(outcome.weights, global_weights)]
    if attack == "noise":
        norm = np.sqrt(sum(float((u**2).sum()) for u in updates))
        size = sum(u.size for u in updates)
        poisoned = [rng.normal(0.0, scale * norm / np.sqrt(size), u.shape) for u in updates]
    else:
        factor = -scale if attack == "sign-flip" else scale
        poisoned = [factor * u for u in updates]
    weights = [
        (g + p).astype(w.dtype) for g, p, w in zip(global_weights, poisoned, outcome.weights)
    ]
    return FitOutcome(weights, outcome.num_examples, outcome.metrics)
