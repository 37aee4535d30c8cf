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
import sys

import numpy as np
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedcore.config.run_config import RunConfig
from fedcore.data import Split
from fedcore.errors import FedXrayError
from fedcore.flower import exchange, flwr_internals, secagg_legacy
from fedcore.flower.app_config import from_run_config
from fedcore.flower.prompt_grid import PromptGrid
from fedcore.flower.records import SERVER_ROUND
from fedcore.flower.roster import Roster
from fedcore.flower.round_books import FlowerRound, dropped, interrupted, record_round
from fedcore.flower.server_setup import (
    FlowerOpening,
    ServerSide,
    open_flower_run,
    privacy_before_training,
    read_global_test,
    server_side,
)
from fedcore.flower.site_watch import SiteWatch
from fedcore.payload import FitOutcome
from fedcore.results.operating_point import at_operating_point
from fedcore.server.global_model import Server
from fedcore.server.recorder import RoundRecorder
from fedcore.store import RunStore
from fedcore.strategies.drift import CONTROL_KEY

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the federation the run config describes, round by round, into the run store: a new
    run, or the stopped or failed one that ``resume`` names, from its last completed round."""
    flwr_internals.shorten_waits(heartbeat=None)
    try:
        config = from_run_config(context.run_config)
        test = read_global_test(config)  # refused before a run row exists
        store = RunStore()
        opening = open_flower_run(store, config)
    except FedXrayError as exc:
        _user_error(str(exc))
    books = RoundRecorder(
        store, opening.run_id, config.rounds, lambda line: print(line, flush=True), opening.best
    )
    # Flower ends a ServerApp with a signal when its SuperLink goes away: say so in the store
    # first, before Flower's own exit handlers and its 5 s force-exit timer.
    flwr_internals.on_exit(functools.partial(interrupted, books))
    try:
        _federate(PromptGrid(grid), context, config, test, books, opening)
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


def _federate(
    grid: PromptGrid,
    context: Context,
    config: RunConfig,
    global_test: Split,
    books: RoundRecorder,
    opening: FlowerOpening,
) -> None:
    timeout, secure = float(config.extra["round_timeout"]), bool(config.extra["secure_aggregation"])

    # ---------------------------------------------------------------- setup
    books.progress(0, "building model")
    side = server_side(config, global_test, opening)
    books.progress(0, "preparing the model")
    side.server.warm_up()
    weights = opening.weights or side.built.initial_weights
    roster = Roster()
    grid.watch = SiteWatch(books, roster.names)
    _gather_hospitals(grid, config, roster, books)
    last = privacy_before_training(config, roster.data_summary(global_test), side.strategy, books)

    # ---------------------------------------------------------------- the loop
    for server_round in range(opening.start_round, last + 1):
        books.start_round(server_round)
        nodes = sorted(grid.get_node_ids())
        grid.watch.connected(nodes)
        books.progress(server_round, "training", len(nodes))
        outcomes, failed, aggregate = _train_round(
            grid, context, config, (server_round, nodes, weights), side, roster, books
        )
        books.store.set_data_summary(
            books.run_id, roster.data_summary(global_test), side.built.notice
        )
        if aggregate is None:
            kept = side.review.screen(outcomes, weights)
            aggregate = side.server.aggregate(server_round, list(kept.values()), weights)
        before, weights = weights, aggregate
        books.progress(server_round, "evaluating", len(nodes), index=len(outcomes))
        metrics, evaluated = _evaluate_round(
            grid, side.server, weights, server_round, timeout, roster, books
        )
        done = FlowerRound(
            server_round,
            nodes,
            outcomes,
            failed,
            (before, weights),
            metrics,
            evaluated,
            secure,
            side.controls.state(),
        )
        record_round(books, side.review, roster, done)
    if last < config.rounds:
        books.budget_spent(last, config.dp_budget)
    books.finished()


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


def _train_round(
    grid: Grid,
    context: Context,
    config: RunConfig,
    step: tuple[int, list[int], list[np.ndarray]],
    side: ServerSide,
    roster: Roster,
    books: RoundRecorder,
) -> tuple[dict[str, FitOutcome], dict[int, str], list[np.ndarray] | None]:
    """Ask the ``step``'s nodes to train from its weights in its round, with the strategy's
    instructions; record the ones that gave no update.

    Returns
    -------
    (outcomes, failed, aggregate)
        The checked updates by hospital name in federation order, why the nodes without one
        gave none, and under SecAgg+ the revealed weighted mean of the updates (None otherwise).

    Raises
    ------
    FedXrayError
        When fewer than ``min-hospitals`` hospitals gave an update.
    """
    server_round, nodes, weights = step
    asked = side.strategy.configure_fit(server_round, weights)
    # SCAFFOLD's control variates are arrays: they travel in records of their own
    # (fedcore.flower.records); the scalar instructions travel in kebab-case.
    control = asked.get(CONTROL_KEY)
    instructions = {SERVER_ROUND: server_round} | {
        key.replace("_", "-"): value for key, value in asked.items() if key != CONTROL_KEY
    }
    timeout, aggregate = float(config.extra["round_timeout"]), None
    if config.extra["secure_aggregation"]:
        aggregate, replies, failed = secagg_legacy.train_secure(
            grid, context, config, nodes, weights, instructions, timeout
        )
    else:
        own = side.controls.to_send(nodes, roster.names) if control is not None else {}
        replies, failed = exchange.train_plain(
            grid, nodes, weights, instructions, timeout, control, own
        )
    shapes = [w.shape for w in side.built.initial_weights]
    refused = functools.partial(books.hospital_failed, server_round)
    outcomes = roster.outcomes(
        replies, nodes, shapes, bool(config.extra["secure_aggregation"]), refused
    )
    if control is not None:
        side.controls.after_round(nodes, roster.names, outcomes, weights, asked)
    for node_id, reason in failed.items():
        dropped(books, server_round, node_id, roster.names.get(node_id), "training", reason)
    if len(outcomes) < int(config.extra["min_hospitals"]):
        raise FedXrayError(
            f"round {server_round}: only {len(outcomes)} hospital(s) answered, fewer than "
            f"min-hospitals={config.extra['min_hospitals']}; see the run's hospital_dropped events"
        )
    return outcomes, failed, aggregate


def _evaluate_round(
    grid: PromptGrid,
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
    # The server predicts its global test set while the hospitals evaluate.
    scores: list[np.ndarray] = []
    step = (grid, evaluators, weights, server_round, timeout)
    evaluated, failed = exchange.evaluate(*step, lambda: scores.append(server.scores(weights)))
    point = server.operating_point([reply.metrics for reply in evaluated.values()])
    metrics = {"global": server.scored(scores[0], point)}
    for node_id, reply in evaluated.items():
        metrics[roster.name(node_id, reply, evaluators)] = at_operating_point(reply.metrics, point)
    for node_id, reason in failed.items():
        dropped(books, server_round, node_id, roster.names.get(node_id), "evaluation", reason)
    return metrics, len(evaluated)
