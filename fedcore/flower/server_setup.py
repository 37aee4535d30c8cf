"""What a Flower run's server has before round 1: its inputs checked, its run in the store (a new
one, or a stopped or failed one resumed), and what it aggregates and evaluates with.

``flwr run . CONNECTION --run-config 'resume="RUN" ...'`` continues the stored run RUN from its
last completed round with the weights, the strategy's state and each hospital's SCAFFOLD
control variate saved with that round, as ``python -m fedcore train --resume`` does in
process; every hospital's steps are seeded by (seed, round, hospital), so the run ends as an
uninterrupted one would. The hospitals read the run's settings from the Flower run config,
so a resumed run must be given the settings it started with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fedcore.config.run_config import RunConfig
from fedcore.data import Split
from fedcore.data.site import load_global_test
from fedcore.errors import FedXrayError
from fedcore.flower.app_config import refuse_what_secure_aggregation_hides
from fedcore.flower.hospital_controls import HospitalControls
from fedcore.flower.superlink import GLOBAL_TEST_ENV
from fedcore.model.networks import BuiltModel, build_model
from fedcore.privacy import mechanism, signal
from fedcore.server.best_round import BestTracker, best_so_far
from fedcore.server.global_model import Server
from fedcore.server.recorder import RoundRecorder
from fedcore.server.resume import read_server_state, refuse_resume, restore_server_state
from fedcore.server.round_review import RoundReview
from fedcore.store import RunStore
from fedcore.strategies import Strategy, keeps_state

# Flower-only settings a resumed run may change: how long to wait, not what to compute.
MAY_CHANGE = ("resume", "round_timeout", "wait_for_hospitals")


@dataclass
class FlowerOpening:
    """A run's id and first round; for a resumed run, the weights, server state (strategy and
    hospitals' control variates) and best round it continues from, and its model."""

    run_id: str
    start_round: int = 1
    weights: list | None = None
    server_state: dict | None = None
    best: BestTracker = field(default_factory=BestTracker)
    built: BuiltModel | None = None


@dataclass
class ServerSide:
    """What the server aggregates and evaluates with: the run's model, its strategy, the global
    evaluation, the review of every update and the hospitals' SCAFFOLD control variates."""

    built: BuiltModel
    strategy: Strategy
    server: Server
    review: RoundReview
    controls: HospitalControls


def read_global_test(config: RunConfig) -> Split:
    """The server's global test set, or a user error saying what to set."""
    if not os.environ.get(GLOBAL_TEST_ENV):
        raise FedXrayError(
            f"the server has no global test set: set {GLOBAL_TEST_ENV} where the SuperLink starts "
            "(a folder with NORMAL/ and PNEUMONIA/, or global_test.npz from "
            "`python -m fedcore export-hospitals`)"
        )
    refuse_what_secure_aggregation_hides(config)
    return load_global_test(os.environ[GLOBAL_TEST_ENV], config.input_size)


def open_flower_run(store: RunStore, config: RunConfig) -> FlowerOpening:
    """A new run row, or the run ``resume`` names reopened (checked before it is marked running).

    Raises
    ------
    FedXrayError
        When the run to resume does not exist, cannot be resumed here, was started with
        other settings, or its checkpoints cannot continue it exactly.
    """
    run_id = config.extra.get("resume")
    if not run_id:
        return FlowerOpening(store.create_run(config.to_dict(), config.rounds, config.mode))
    record = store.get_run(run_id)
    refuse_resume(record, runtime="flower")
    _refuse_other_settings(record, config)
    opening = FlowerOpening(run_id, best=best_so_far(store, run_id))
    if record["rounds_done"]:
        opening.built = build_model(config)
        shapes = [w.shape for w in opening.built.initial_weights]
        done, state = store.load_checkpoint(run_id, "last", shapes)
        opening.server_state = read_server_state(store, run_id, done, keeps_state(config), shapes)
        opening.weights, opening.start_round = state["global"], done + 1
    store.mark_running(run_id)
    store.event(
        run_id,
        "resumed",
        f"resumed at round {opening.start_round} over Flower",
        opening.start_round,
    )
    return opening


def _refuse_other_settings(record: dict, config: RunConfig) -> None:
    """FedXrayError naming every setting this Flower run gives otherwise than the run it resumes."""

    def comparable(values: dict) -> dict:
        extra = values.get("extra") or {}
        return {k: v for k, v in values.items() if k != "extra"} | {
            k: v for k, v in extra.items() if k not in MAY_CHANGE
        }

    started, given = comparable(record["config"]), comparable(config.to_dict())
    differ = sorted(k for k in started.keys() | given.keys() if started.get(k) != given.get(k))
    if differ:
        was = " ".join(f"{k.replace('_', '-')}={started.get(k)!r}" for k in differ)
        now = " ".join(f"{k.replace('_', '-')}={given.get(k)!r}" for k in differ)
        raise FedXrayError(
            f"run {record['id']} started with {was}, and this Flower run has {now}: give the run "
            f'config it started with, plus resume="{record["id"]}"'
        )


def server_side(config: RunConfig, test: Split, opening: FlowerOpening) -> ServerSide:
    """The run's model, strategy (its state restored for a resumed run), server and review."""
    built = opening.built or build_model(config)
    strategy = mechanism.run_strategy(config, config.hospitals)
    restore_server_state(opening.server_state or {}, strategy, [])
    return ServerSide(
        built,
        strategy,
        Server(strategy, built, test, config.threshold, config.target_sensitivity or None),
        # Geometry and flags as in process; contributions would need the SuperNodes to evaluate.
        RoundReview(strategy, drop_flagged=config.defence == "drop-flagged"),
        HospitalControls(opening.server_state, config.epochs, config.batch),
    )


def privacy_before_training(
    config: RunConfig, summary: dict, strategy: Strategy, books: RoundRecorder
) -> int:
    """Say, before round 1, when the privacy noise will drown the signal (as the in-process engine
    does); the last round within the privacy budget (hospital level; patient level's budget is
    applied in-process only, since each SuperNode solves its own noise)."""
    for message in signal.warnings(config, signal.sites_of(summary)):
        books.store.event(books.run_id, "privacy_noise", message, level="warning")
        books.log(f"warning: {message}")
    if config.dp == "patient" and config.dp_budget is not None:
        books.log("warning: --dp-budget is not applied to patient-level DP over Flower")
    return mechanism.last_round_within_budget(config, [], strategy)
