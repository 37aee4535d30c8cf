"""Flower ServerApp: fedcore's server side (its strategies, global evaluation, the run store) over
real SuperNodes.

The loop mirrors the in-process one (fedcore.run.engine) and keeps the same books with
:class:`fedcore.server.recorder.RoundRecorder`: every round asks each connected hospital
to train, averages what came back (plainly, or with SecAgg+ so that only the sum is
ever seen), evaluates the new global weights on the server's global test set and on
every hospital's own test split, and writes the round to the same run store, so the
dashboard shows a Flower run as it shows an in-process one.

A hospital that does not answer within ``round-timeout`` (killed, disconnected) is
recorded as a ``hospital_dropped`` event of that round and the round completes with
the others, if at least ``min-hospitals`` answered. Every round asks the SuperNodes
connected at its start, so a hospital that comes back rejoins the next round.

Where the server's own things are is set in the SuperLink machine's environment, as
a SuperNode's are in its node config: ``FEDCORE_HOME`` (the run store, as for every
fedcore command) and ``FEDXRAY_GLOBAL_TEST`` (the global test set: a folder with
NORMAL/ and PNEUMONIA/, or an .npz from ``python -m fedcore export-hospitals``).
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedcore.config.run_config import RunConfig
from fedcore.data import Split
from fedcore.data.site import load_global_test
from fedcore.errors import FedXrayError
from fedcore.flower import exchange, flwr_internals, secagg_legacy
from fedcore.flower.app_config import from_run_config, refuse_what_secure_aggregation_hides
from fedcore.flower.prompt_grid import PromptGrid
from fedcore.flower.records import SERVER_ROUND, Reply
from fedcore.flower.roster import Roster
from fedcore.flower.round_books import FlowerRound, dropped, record_round
from fedcore.flower.superlink import GLOBAL_TEST_ENV
from fedcore.model.networks import build_model
from fedcore.privacy import mechanism, signal
from fedcore.results.operating_point import at_operating_point
from fedcore.server.global_model import Server
from fedcore.server.recorder import RoundRecorder
from fedcore.server.round_review import RoundReview
from fedcore.store import RunStore
from fedcore.strategies.drift import CONTROL_KEY

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the federation the run config describes, round by round, into the run store."""
    flwr_internals.shorten_waits(heartbeat=None)
    try:
        config = from_run_config(context.run_config)
        global_test = _global_test(config)  # refused before a run row exists
        store = RunStore()
        run_id = store.create_run(config.to_dict(), config.rounds, config.mode)
    except FedXrayError as exc:
        _user_error(str(exc))
    books = RoundRecorder(store, run_id, config.rounds, lambda line: print(line, flush=True))
    try:
        _federate(PromptGrid(grid), context, config, global_test, books)
    except FedXrayError as exc:
        books.failed(exc)  # prints its 'error:' line
        raise SystemExit(2) from None
    except Exception as exc:
        books.failed(exc)
        raise


def _user_error(message: str) -> None:
    """A user error ends the ServerApp with its one line and status 2, no traceback."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _global_test(config: RunConfig) -> Split:
    """The server's global test set, or a user error saying what to set."""
    if not os.environ.get(GLOBAL_TEST_ENV):
        raise FedXrayError(
            f"the server has no global test set: set {GLOBAL_TEST_ENV} where the SuperLink starts "
            "(a folder with NORMAL/ and PNEUMONIA/, or global_test.npz from "
            "`python -m fedcore export-hospitals`)"
        )
    refuse_what_secure_aggregation_hides(config)
    return load_global_test(os.environ[GLOBAL_TEST_ENV], config.input_size)


def _federate(
    grid: Grid, context: Context, config: RunConfig, global_test: Split, books: RoundRecorder
) -> None:
    options = config.extra
    timeout, secure = float(options["round_timeout"]), bool(options["secure_aggregation"])
    min_hospitals = int(options["min_hospitals"])

    # ---------------------------------------------------------------- setup
    books.progress(0, "building model")
    built = build_model(config)
    strategy = mechanism.run_strategy(config, config.hospitals)
    server = Server(
        strategy, built, global_test, config.threshold, config.target_sensitivity or None
    )
    weights, shapes = built.initial_weights, [w.shape for w in built.initial_weights]
    # Geometry and flags as in process; contributions would need the SuperNodes to evaluate.
    review = RoundReview(strategy, drop_flagged=config.defence == "drop-flagged")
    roster = Roster()
    _gather_hospitals(grid, config, roster, books)
    last = _privacy_before_training(config, roster.data_summary(global_test), strategy, books)

    # ---------------------------------------------------------------- the loop
    for server_round in range(1, last + 1):
        books.start_round(server_round)
        nodes = sorted(grid.get_node_ids())
        books.progress(server_round, "training", len(nodes))
        asked = strategy.configure_fit(server_round, weights)
        replies, failed, aggregate = _train(
            grid, context, config, nodes, weights, {SERVER_ROUND: server_round, **asked}
        )
        outcomes = roster.outcomes(
            replies,
            nodes,
            shapes,
            secure,
            functools.partial(books.hospital_failed, server_round),
        )
        for node_id, reason in failed.items():
            dropped(books, server_round, node_id, roster.names.get(node_id), "training", reason)
        if len(outcomes) < min_hospitals:
            raise FedXrayError(
                f"round {server_round}: only {len(outcomes)} hospital(s) answered, fewer than "
                f"min-hospitals={min_hospitals}; see the run's hospital_dropped events"
            )
        books.store.set_data_summary(books.run_id, roster.data_summary(global_test), built.notice)
        if aggregate is None:
            kept = review.screen(outcomes, weights)
            aggregate = server.aggregate(server_round, list(kept.values()), weights)
        before, weights = weights, aggregate
        books.progress(server_round, "evaluating", len(nodes), index=len(outcomes))
        metrics, evaluated = _evaluate_round(
            grid, server, weights, server_round, timeout, roster, books
        )
        done = FlowerRound(
            server_round, nodes, outcomes, failed, (before, weights), metrics, evaluated, secure
        )
        record_round(books, review, roster, done)
    if last < config.rounds:
        books.budget_spent(last, config.dp_budget)
    books.finished()


def _privacy_before_training(
    config: RunConfig, summary: dict, strategy, books: RoundRecorder
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


def _gather_hospitals(grid: Grid, config: RunConfig, roster: Roster, books: RoundRecorder) -> None:
    """Wait for the SuperNodes, then have each load its hospital before round 1 and say who it
    is."""
    options = config.extra
    books.log(
        f"run {books.run_id}: flower, {config.backbone} at {config.input_size}px, "
        f"{config.rounds} rounds, secure aggregation "
        f"{'on' if options['secure_aggregation'] else 'off'}"
    )
    books.progress(0, "waiting for hospitals")
    exchange.wait_for_hospitals(
        grid, config.hospitals, int(options["min_hospitals"]), float(options["wait_for_hospitals"])
    )
    books.progress(0, "loading data")
    nodes = sorted(grid.get_node_ids())
    for node_id, reply in exchange.prepare(grid, nodes, float(options["round_timeout"])).items():
        roster.name(node_id, reply, nodes)


def _train(
    grid: Grid,
    context: Context,
    config: RunConfig,
    nodes: list[int],
    weights: list[np.ndarray],
    asked: dict,
) -> tuple[dict[int, Reply], dict[int, str], list[np.ndarray] | None]:
    """Ask ``nodes`` to train from ``weights`` with ``asked``: the round and the strategy's
    instructions.

    Returns
    -------
    (replies, failed, aggregate)
        Each answering node's reply, why the others gave none, and under SecAgg+ the
        revealed weighted mean of the updates (None otherwise).
    """
    # SCAFFOLD's control variate is arrays: it travels in a record of its own
    # (fedcore.flower.records); the scalar instructions travel in kebab-case.
    control = asked.pop(CONTROL_KEY, None)
    instructions = {key.replace("_", "-"): value for key, value in asked.items()}
    timeout = float(config.extra["round_timeout"])
    if config.extra["secure_aggregation"]:
        aggregate, replies, failed = secagg_legacy.train_secure(
            grid, context, config, nodes, weights, instructions, timeout
        )
        return replies, failed, aggregate
    replies, failed = exchange.train_plain(grid, nodes, weights, instructions, timeout, control)
    return replies, failed, None


def _evaluate_round(
    grid: Grid,
    server: Server,
    weights: list[np.ndarray],
    server_round: int,
    timeout: float,
    roster: Roster,
    books: RoundRecorder,
) -> tuple[dict[str, dict], int]:
    """Metrics of the new global weights on the global test set and every node's test split, at
    the operating point the server chooses from the nodes' pooled validation counts."""
    evaluators = sorted(grid.get_node_ids())
    evaluated, failed = exchange.evaluate(grid, evaluators, weights, server_round, timeout)
    point = server.operating_point([reply.metrics for reply in evaluated.values()])
    metrics = {"global": server.evaluate(weights, point)}
    for node_id, reply in evaluated.items():
        metrics[roster.name(node_id, reply, evaluators)] = at_operating_point(reply.metrics, point)
    for node_id, reason in failed.items():
        dropped(books, server_round, node_id, roster.names.get(node_id), "evaluation", reason)
    return metrics, len(evaluated)
