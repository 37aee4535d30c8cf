"""Which privacy mechanism a run uses, chosen once from its config where the run is set up.

- ``dp='off'``: plain hospitals and the plain strategy.
- ``dp='patient'``: every hospital is a :class:`fedcore.hospital.dp_training.DPHospital` (DP-SGD);
  each reports its own cumulative epsilon with its weights.
- ``dp='hospital'``: the strategy is wrapped in :class:`fedcore.privacy.dp_strategy.DPFedAvg`;
  the server reports one epsilon that holds for every hospital.

Neither the hospitals nor the strategy read the ``dp`` setting: the choice is made here
for the server (the strategy) and in :func:`fedcore.hospital.kinds.make_hospital` for the
hospitals. Nothing here imports the hospital side, so the Flower server can use it.
See docs/privacy.md for what each guarantee means.
"""

from __future__ import annotations

import math

from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.privacy import accounting, spending
from fedcore.privacy.dp_strategy import DPFedAvg
from fedcore.server.fit_facts import hospitals_only
from fedcore.strategies import Strategy, make_strategy


def run_strategy(config: RunConfig, hospitals: int) -> Strategy:
    """The server strategy a run uses, for the in-process engine and the Flower ServerApp alike:
    ``config.strategy`` with its client lr schedule, wrapped by :func:`protect`."""
    return protect(make_strategy(config, hospitals), config, hospitals)


def server_spent(strategy: Strategy, server_round: int) -> dict:
    """The (epsilon, delta) the server's mechanism has spent for every hospital after
    ``server_round`` rounds; empty when the strategy adds no noise."""
    return strategy.spent(server_round) if isinstance(strategy, DPFedAvg) else {}


def protect(strategy: Strategy, config: RunConfig, hospitals: int) -> Strategy:
    """``strategy`` wrapped in hospital-level DP when ``config.dp == 'hospital'``, else as it is.

    With ``dp_target_epsilon`` the noise multiplier is the one whose composition over
    ``config.rounds`` rounds spends exactly the target (dp-accounting). The noise is
    seeded from the run's seed, so a resumed run repeats it.
    """
    if config.dp != "hospital":
        return strategy
    sigma = (
        accounting.gaussian_noise_for_epsilon(
            config.dp_target_epsilon, config.rounds, config.dp_delta
        )
        if config.dp_target_epsilon is not None
        else config.dp_noise_multiplier
    )
    return DPFedAvg(
        strategy, hospitals, sigma, config.dp_clip_norm, config.dp_delta, seed=config.seed
    )


def last_round_within_budget(config: RunConfig, hospitals: list, strategy: Strategy) -> int:
    """The last round the run may train within its privacy budget (``config.rounds`` without
    one); a budget that even one round overspends is refused before training."""
    if config.dp == "patient":
        spenders = [
            spending.Spender(
                h.noise_multiplier, config.dp_delta, h.sampling_rate, h.steps_per_round
            )
            for h in hospitals
        ]
    elif isinstance(strategy, DPFedAvg):
        spenders = [spending.Spender(strategy.noise_multiplier, strategy.delta)]
    else:
        spenders = []
    last = spending.last_round(spenders, config.dp_budget, config.rounds)
    if last == 0:
        first = max(s.epsilon_after(1) for s in spenders)
        raise FedXrayError(
            f"the privacy budget {config.dp_budget:g} is spent before the first round ends "
            f"(one round spends epsilon {first:.2f}): raise --dp-budget or the noise"
        )
    return last


def notices(config: RunConfig, hospitals: list) -> list[tuple[str, str, dict]]:
    """(level, message, data) events that state the run's privacy mechanism and its caveats."""
    if config.dp == "off":
        return []
    settings = {
        "dp": config.dp,
        "noise_multiplier": config.dp_noise_multiplier,
        "clip_norm": config.dp_clip_norm,
        "delta": config.dp_delta,
        "target_epsilon": config.dp_target_epsilon,
    }
    if config.dp == "patient":
        settings["hospitals"] = {
            h.name: {
                "noise_multiplier": h.noise_multiplier,
                "sampling_rate": h.sampling_rate,
                "steps_per_round": h.steps_per_round,
            }
            for h in hospitals
        }
        message = (
            f"patient-level DP-SGD: clip {config.dp_clip_norm}, delta {config.dp_delta:g}, noise "
            + ", ".join(f"{h.name} sigma {h.noise_multiplier:.3f}" for h in hospitals)
        )
    else:
        message = (
            f"hospital-level DP: each update clipped to {config.dp_clip_norm}, "
            f"Gaussian noise on the unweighted mean over {len(hospitals)} hospitals, "
            f"delta {config.dp_delta:g}"
        )
    out = [("info", message, settings)]
    if config.dp == "patient" and config.strategy in ("fedprox", "scaffold"):
        out.append(
            (
                "warning",
                f"DP-SGD hospitals take only clipped, noised steps: {config.strategy}'s local "
                "correction is not applied, and the server aggregates as FedAvg does",
                {},
            )
        )
    for h in hospitals:
        if config.dp == "patient" and config.dp_delta >= 1.0 / h.num_examples:
            out.append(
                (
                    "warning",
                    f"delta {config.dp_delta:g} is not below 1/{h.num_examples}, one over "
                    f"{h.name}'s images: a mechanism that leaks one patient's record outright "
                    "would meet it; lower --dp-delta",
                    {"hospital": h.name},
                )
            )
    return out


def epsilon_note(fit_info: dict) -> str:
    """'  | eps <= 3.21 @ delta 1e-05' from a round's fit facts, or '' when no epsilon was spent."""
    spent = [v for v in hospitals_only(fit_info).values() if "epsilon" in v]
    if not spent:
        return ""
    worst = max(s["epsilon"] for s in spent)
    return (
        f"  | eps <= {worst:.2f} @ delta {spent[0]['delta']:g}"
        if math.isfinite(worst)
        else "  | eps = inf"
    )
