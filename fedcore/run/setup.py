"""What a run needs before its first round: config, start point, hospitals, strategy, server."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fedcore.config.run_config import RunConfig
from fedcore.data import Federation
from fedcore.hospital import attacks
from fedcore.hospital.kinds import make_hospital
from fedcore.hospital.training import Hospital
from fedcore.model.networks import BuiltModel, build_model
from fedcore.privacy import mechanism, signal
from fedcore.run.modes import MODES, Evaluation, Federated
from fedcore.server.best_round import BestTracker, best_so_far
from fedcore.server.global_model import Server
from fedcore.server.recorder import RoundRecorder
from fedcore.server.resume import read_server_state, refuse_resume
from fedcore.server.round_review import RoundReview, ValidationScorer
from fedcore.store import RunStore
from fedcore.strategies import Strategy, keeps_state


@dataclass
class Setup:
    """What the loop needs, built once per run from its config, data and model."""

    mode: Federated
    hospitals: list[Hospital]
    participants: list[Hospital]
    strategy: Strategy
    server: Server
    model_shapes: list[tuple]
    evaluation: Evaluation
    config: RunConfig
    built: BuiltModel
    attackers: list[str] = field(default_factory=list)
    review: RoundReview | None = None


@dataclass
class Opening:
    """Where a run starts: its config and id (None for a run not yet created), its first round
    and, for a resumed run, the weights, strategy state and best round it continues from."""

    config: RunConfig
    run_id: str | None
    start_round: int = 1
    state: dict | None = None
    server_state: dict | None = None
    best: BestTracker = field(default_factory=BestTracker)
    built: BuiltModel | None = None


def open_run(
    config: RunConfig | None,
    store: RunStore,
    resume: str | None,
    run_id: str | None,
    built: BuiltModel | None = None,
) -> Opening:
    """A new run's validated config, or a resumed run's state once checked against its model.

    ``built`` is the run's model when the caller already has it; a resumed run that completed
    a round builds it here, so that its checkpoints are checked against the model's own shapes.
    """
    if resume:
        return _reopen(store, resume, built)
    if config is None and run_id is not None:
        # A row created beforehand (by the dashboard) carries the whole config.
        config = RunConfig.from_dict(store.get_run(run_id)["config"])
    return Opening((config or RunConfig()).validate(), run_id, built=built)


def _reopen(store: RunStore, run_id: str, built: BuiltModel | None) -> Opening:
    record = store.get_run(run_id)
    refuse_resume(record)
    opening = Opening(RunConfig.from_dict(record["config"]), run_id, built=built)
    if record["rounds_done"]:
        # Read and checked first: a forged or damaged checkpoint is named, the run keeps its status.
        opening.built = built or build_model(opening.config)
        shapes = [w.shape for w in opening.built.initial_weights]
        done, opening.state = store.load_checkpoint(run_id, "last", shapes)
        needed = keeps_state(opening.config)
        opening.server_state = read_server_state(store, run_id, done, needed, shapes)
        opening.best = best_so_far(store, run_id)
        opening.start_round = done + 1
    store.mark_running(run_id)
    store.event(run_id, "resumed", f"resumed at round {opening.start_round}", opening.start_round)
    return opening


def build_setup(
    config: RunConfig, federation: Federation, built: BuiltModel, books: RoundRecorder
) -> Setup:
    """The hospitals, the mode's participants, the strategy and the server; notices recorded."""
    store, run_id = books.store, books.run_id
    if federation.skipped:
        store.event(
            run_id,
            "skipped_files",
            f"{len(federation.skipped)} file(s) could not be read and were skipped",
            level="warning",
            data={"files": federation.skipped},
        )
        books.log(
            f"warning: skipped {len(federation.skipped)} unreadable file(s); "
            f"see `python -m fedcore report {run_id}`"
        )
    store.set_data_summary(run_id, federation.summary(), built.notice)
    books.log(f"model: {built.notice}")
    mode = MODES[config.mode]
    attackers = attacks.attackers(config, [h.name for h in federation.hospitals])
    if attackers:
        message, data = attacks.announcement(config, attackers)
        store.event(run_id, "attack", message, level="warning", data=data)
    hospitals = [
        make_hospital(attacks.training_data(h, config, attackers), built, config, i)
        for i, h in enumerate(federation.hospitals)
    ]
    participants = mode.participants(hospitals, federation, built, config)
    # Centralized and local runs aggregate nothing: only the learning-rate schedule applies.
    strategy = mechanism.run_strategy(
        replace(config, strategy=config.strategy if config.mode == "federated" else "fedavg"),
        len(participants),
    )
    for level, message, data in mechanism.notices(config, participants):
        store.event(run_id, "privacy", message, level=level, data=data)
    if config.mode == "federated":
        for message in signal.warnings(config, signal.sites_of(federation.summary())):
            store.event(run_id, "privacy_noise", message, level="warning")
            books.log(f"warning: {message}")
    server = Server(
        strategy, built, federation.global_test, config.threshold, config.target_sensitivity or None
    )
    return Setup(
        mode,
        hospitals,
        participants,
        strategy,
        server,
        [w.shape for w in built.initial_weights],
        Evaluation(server, hospitals),
        config,
        built,
        attackers,
        _review(config, strategy, built, hospitals),
    )


def _review(config: RunConfig, strategy, built: BuiltModel, hospitals) -> RoundReview | None:
    """Who helped and who was flagged, each round: only a federation aggregates updates."""
    if config.mode != "federated":
        return None
    scorer = ValidationScorer(built, hospitals) if config.contribution else None
    return RoundReview(strategy, scorer, drop_flagged=config.defence == "drop-flagged")


def warm_up(setup: Setup, books: RoundRecorder) -> None:
    """Trace the model's training and prediction steps before round 1, so that round 1 costs what
    later rounds cost. Every hospital and the server share one model: one hospital traces it."""
    books.progress(0, "preparing the model")
    setup.participants[0].warm_up()
