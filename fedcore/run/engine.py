"""A whole run in one process: federated (any strategy), centralized or local, round by round.

Reads top to bottom: open the run, load the data and the model, then the visible
``for server_round`` loop. The mode (fedcore.run.modes) says who trains and what a round
makes; the recorder (fedcore.server.recorder) keeps the books, as in the Flower ServerApp.
A stop request (Ctrl-C, SIGTERM, the dashboard's Stop) ends the run after the current step
with the last completed round kept; every local step is seeded by (seed, round, hospital),
so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import time
from typing import Callable

from fedcore import payload
from fedcore.config.run_config import RunConfig
from fedcore.data import Federation, load_federation
from fedcore.errors import FedXrayError
from fedcore.hospital import attacks
from fedcore.hospital.training import Hospital, LocalTrainingStopped
from fedcore.model.networks import BuiltModel, build_model
from fedcore.payload import FitOutcome
from fedcore.privacy import audit, mechanism
from fedcore.run.setup import Setup, build_setup, open_run, warm_up
from fedcore.run.signals import RunResult, StopSignal
from fedcore.server.fit_facts import round_fit_info
from fedcore.server.recorder import RoundRecorder
from fedcore.server.resume import restore_server_state, server_state
from fedcore.server.who_helped import round_flag_note
from fedcore.store import RunStore


def run(
    config: RunConfig | None = None,
    store: RunStore | None = None,
    *,
    resume: str | None = None,
    stop: StopSignal | None = None,
    log: Callable[[str], None] = print,
    built: BuiltModel | None = None,
    federation: Federation | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Train a run to the end, to a stop request, or to a failure, writing everything to the store.

    Parameters
    ----------
    config : RunConfig, optional
        The run's settings; for ``resume`` they come from the store.
    store : RunStore, optional
        Where the run is written; default the store under FEDCORE_HOME.
    resume : str, optional
        Id of a stopped or failed run to continue from its last completed round.
    stop : StopSignal, optional
        Polled between hospitals and between batches.
    log : callable
        Receives one line of progress at a time (the CLI prints them).
    built, federation : optional
        An already compiled model and loaded data, to reuse across runs in one process
        (benchmarks, ``compare``); built from the config when not given.
    run_id : str, optional
        An already created run to fill (the dashboard creates the row before starting).

    Raises
    ------
    FedXrayError
        For a new run whose settings or data cannot train: before any run row exists.
    """
    store, stop = store or RunStore(), stop or StopSignal()
    opening = open_run(config, store, resume, run_id, built)
    config, run_id, built = opening.config, opening.run_id, opening.built
    start_round, state = opening.start_round, opening.state
    if run_id is None:
        # A new run: bad data is refused before a row exists, so none is left 'failed'.
        federation = federation or load_federation(config)
        run_id = store.create_run(config.to_dict(), config.rounds, config.mode)
    books = RoundRecorder(store, run_id, config.rounds, log, opening.best)
    result = RunResult(run_id, "running", start_round - 1)
    try:
        log(
            f"run {run_id}: {config.mode}, {config.backbone} at {config.input_size}px, "
            f"{config.rounds} rounds x {config.epochs} local epoch(s), seed {config.seed}"
        )
        books.progress(0, "loading data")
        federation = federation or load_federation(config)
        books.progress(0, "building model")
        built = built or build_model(config)
        result.notices.append(built.notice)
        setup = build_setup(config, federation, built, books)
        warm_up(setup, books)
        state = state or setup.mode.initial_state(built.initial_weights, setup.hospitals)
        if opening.server_state is not None:
            restore_server_state(opening.server_state, setup.strategy, setup.hospitals)

        # ---------------------------------------------------------------- the loop
        last = mechanism.last_round_within_budget(config, setup.participants, setup.strategy)
        loop_start = time.perf_counter()
        for server_round in range(start_round, last + 1):
            books.start_round(server_round)
            chosen = setup.mode.sample(setup.participants, server_round, config)
            outcomes = train_round(setup, chosen, state, server_round, books, stop, result)
            before, kept = state, outcomes
            if setup.review:
                setup.review.before_aggregate()
                kept = setup.review.screen(outcomes, state["global"])
            state = setup.mode.next_state(setup.server, server_round, kept, state, setup.hospitals)
            record_round(setup, (before, state), outcomes, chosen, server_round, books, result)
        result.loop_seconds = time.perf_counter() - loop_start
        if last < config.rounds:
            books.budget_spent(last, config.dp_budget)
        result.status = books.finished()
    except LocalTrainingStopped:
        result.status = books.stopped(result.rounds_done)
    except Exception as exc:
        # A user error in its own words; an engine bug in plain words, traceback kept.
        result.status, result.error = "failed", books.failed(exc)
    return result


def train_round(
    setup: Setup,
    chosen: list[Hospital],
    state: dict[str, list],
    server_round: int,
    books: RoundRecorder,
    stop: StopSignal,
    result: RunResult,
) -> dict[str, FitOutcome]:
    """Each hospital ``chosen`` for the round trains in turn; a failure is recorded, not fatal.

    Raises
    ------
    LocalTrainingStopped
        When a stop was requested (between hospitals or within one's training).
    FedXrayError
        When every hospital failed.
    """
    outcomes = {}
    instructions = setup.strategy.configure_fit(server_round, state.get("global"))
    for i, hospital in enumerate(chosen):
        if stop():
            raise LocalTrainingStopped(hospital.name)
        books.progress(server_round, "training", len(chosen), hospital.name, i)
        try:
            start = setup.mode.start_weights(state, hospital.name)
            outcome = hospital.fit(start, server_round, instructions, stop)
            if hospital.name in setup.attackers:
                outcome = attacks.sent_by_attacker(
                    outcome, start, hospital.config, server_round, hospital.index
                )
            payload.check(outcome, setup.model_shapes)
        except LocalTrainingStopped:
            raise
        except Exception as exc:  # one hospital failing must not take the federation down
            books.hospital_failed(server_round, hospital.name, exc)
            continue
        outcomes[hospital.name] = outcome
        result.fit_seconds += outcome.metrics["fit_seconds"]
        books.log(
            f"  round {server_round} {hospital.name}: trained on {outcome.num_examples} images, "
            f"{outcome.metrics['fit_seconds']:.1f}s, sent {outcome.payload_bytes() / 1e6:.2f} MB"
        )
    if not outcomes:
        raise FedXrayError(f"every hospital failed in round {server_round}; see the run's events")
    return outcomes


def record_round(
    setup: Setup,
    states: tuple[dict[str, list], dict[str, list]],
    outcomes: dict[str, FitOutcome],
    chosen: list[Hospital],
    server_round: int,
    books: RoundRecorder,
    result: RunResult,
) -> None:
    """Evaluate the round's new model(s), write the round to the store, checkpoint it, audit it
    when the run asks, and log its line; ``states`` is the state before and after the round."""
    config, hospitals = setup.config, setup.hospitals
    before, state = states
    books.progress(
        server_round, "evaluating", len(setup.participants), index=len(setup.participants)
    )
    eval_start = time.perf_counter()
    metrics = setup.mode.evaluate(setup.evaluation, state)
    result.eval_seconds += time.perf_counter() - eval_start
    fit_info = round_fit_info(
        outcomes,
        [h.name for h in chosen],
        next(iter(state.values())),
        mechanism.server_spent(setup.strategy, server_round),
    )
    if setup.review:
        setup.review.annotate(fit_info, server_round, outcomes, before["global"], state["global"])
    seconds = books.record(
        server_round,
        state,
        metrics,
        [h.name for h in hospitals],
        fit_info,
        setup.mode.score(metrics, hospitals),
        server_state(setup.strategy, hospitals),
    )
    result.rounds_done = server_round
    if config.audit_every and server_round % config.audit_every == 0:
        audited = audit.audit_hospitals(setup.built, state, [h.data for h in hospitals])
        audit.record(books.store, books.run_id, server_round, audited, "round")
    books.log(
        _round_line(server_round, config.rounds, seconds, setup, metrics)
        + mechanism.epsilon_note(fit_info)
        + round_flag_note(fit_info)
    )


def _round_line(server_round: int, rounds: int, seconds: float, setup: Setup, metrics: dict) -> str:
    # Past 10 hospitals: the worst and the best only.
    ranked = sorted(setup.hospitals, key=lambda h: metrics[h.name]["accuracy"])
    per = " | ".join(
        f"{h.name} acc {metrics[h.name]['accuracy']:.3f}"
        for h in (ranked if len(ranked) <= 10 else [ranked[0], ranked[-1]])
    )
    return (
        f"round {server_round:>2}/{rounds} ({seconds:5.1f}s)  "
        f"{setup.mode.headline(metrics, setup.hospitals)}"
        f"  | {per}"
    )
