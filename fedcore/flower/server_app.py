"""Flower ServerApp: fedcore's server side (FedAvg, global evaluation, the run store) over real
SuperNodes.

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

import os

import numpy as np
from flwr.app import Context
from flwr.common import FitRes, parameters_to_ndarrays
from flwr.serverapp import Grid, ServerApp

from fedcore import payload
from fedcore.config.run_config import RunConfig
from fedcore.data import Split
from fedcore.data.site import load_global_test
from fedcore.errors import FedXrayError
from fedcore.flower import exchange, flwr_internals
from fedcore.flower.app_config import from_run_config
from fedcore.flower.packing import unpack
from fedcore.model.networks import build_model
from fedcore.payload import FitOutcome
from fedcore.privacy import mechanism
from fedcore.results.operating_point import at_operating_point
from fedcore.server.fit_facts import round_fit_info
from fedcore.server.global_model import Server
from fedcore.server.recorder import RoundRecorder
from fedcore.server.resume import server_state
from fedcore.store import RunStore
from fedcore.strategies.drift import CONTROL_KEY

GLOBAL_TEST_ENV = "FEDXRAY_GLOBAL_TEST"
# Keys a hospital adds to its replies to say who it is; not metrics.
IDENTITY_KEYS = ("hospital", "partition-id")

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the federation the run config describes, round by round, into the run store."""
    flwr_internals.shorten_waits(heartbeat=None)
    config = from_run_config(context.run_config)
    global_test = _global_test(config)  # refused before a run row exists
    store = RunStore()
    run_id = store.create_run(config.to_dict(), config.rounds, config.mode)
    books = RoundRecorder(store, run_id, config.rounds, lambda line: print(line, flush=True))
    try:
        _federate(exchange.PromptGrid(grid), context, config, global_test, books)
    except Exception as exc:
        books.failed(exc)
        raise


def _global_test(config: RunConfig) -> Split:
    """The server's global test set, or a user error saying what to set."""
    if not os.environ.get(GLOBAL_TEST_ENV):
        raise FedXrayError(
            f"the server has no global test set: set {GLOBAL_TEST_ENV} where the SuperLink starts "
            "(a folder with NORMAL/ and PNEUMONIA/, or global_test.npz from "
            "`python -m fedcore export-hospitals`)"
        )
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
    known: dict[int, str] = {}  # node id -> hospital name, as each first answers
    summaries: dict[str, dict] = {}
    books.log(
        f"run {books.run_id}: flower, {config.backbone} at {config.input_size}px, {config.rounds} "
        "rounds, "
        f"secure aggregation {'on' if secure else 'off'}"
    )
    books.progress(0, "waiting for hospitals")
    exchange.wait_for_hospitals(
        grid, config.hospitals, min_hospitals, float(options["wait_for_hospitals"])
    )
    books.progress(0, "loading data")
    nodes = sorted(grid.get_node_ids())
    for node_id, identity in exchange.prepare(grid, nodes, timeout).items():
        known.setdefault(node_id, _name(identity, node_id, known, nodes))

    # ---------------------------------------------------------------- the loop
    for server_round in range(1, config.rounds + 1):
        books.start_round(server_round)
        nodes = sorted(grid.get_node_ids())
        books.progress(server_round, "training", len(nodes))
        asked = strategy.configure_fit(server_round, weights)
        # SCAFFOLD's control variate is arrays: it travels after the weights
        # (fedcore.flower.client_app).
        control = asked.pop(CONTROL_KEY, None)
        instructions = {"server-round": server_round, **_flower_keys(asked)} | (
            {"scaffold-control": True} if control is not None else {}
        )
        if secure:
            aggregate, replies, failed = exchange.train_secure(
                grid, context, config, nodes, weights, instructions, timeout
            )
        else:
            aggregate, (replies, failed) = (
                None,
                exchange.train_plain(grid, nodes, weights, instructions, timeout, control),
            )
        outcomes = _outcomes(replies, known, nodes, summaries, shapes, secure, books, server_round)
        for node_id, reason in failed.items():
            _dropped(books, server_round, node_id, known.get(node_id), "training", reason)
        if len(outcomes) < min_hospitals:
            raise FedXrayError(
                f"round {server_round}: only {len(outcomes)} hospital(s) answered, fewer than "
                f"min-hospitals={min_hospitals}; see the run's hospital_dropped events"
            )
        books.store.set_data_summary(
            books.run_id, _data_summary(summaries, global_test), built.notice
        )
        weights = (
            aggregate
            if aggregate is not None
            else server.aggregate(server_round, list(outcomes.values()), weights)
        )
        books.progress(server_round, "evaluating", len(nodes), index=len(outcomes))
        metrics, evaluated = _evaluate_round(
            grid, server, weights, server_round, timeout, known, books
        )
        fit_info = round_fit_info(
            outcomes,
            [known.get(n, f"node {n}") for n in nodes],
            weights,
            mechanism.server_spent(strategy, server_round),
        )
        fit_info["_round"].update(
            {
                "runtime": "flower",
                "secure_aggregation": secure,
                "bytes_moved": _bytes_moved(outcomes, weights, len(nodes), evaluated),
            }
        )
        seconds = books.record(
            server_round,
            {"global": weights},
            metrics,
            sorted(set(known.values())),
            fit_info,
            metrics["global"]["auroc"],
            server_state(strategy, []),
        )
        g = metrics["global"]
        books.log(
            f"round {server_round:>2}/{config.rounds} ({seconds:5.1f}s)  global acc "
            f"{g['accuracy']:.3f} "
            f"auroc {g['auroc']:.3f} loss {g['loss']:.3f}  | hospitals {', '.join(outcomes)}"
            + (f" | dropped {len(failed)}" if failed else "")
        )
    books.finished()


def _outcomes(
    replies: dict[int, FitRes],
    known: dict[int, str],
    nodes: list[int],
    summaries: dict[str, dict],
    shapes: list[tuple],
    secure: bool,
    books: RoundRecorder,
    server_round: int,
) -> dict[str, FitOutcome]:
    """The round's updates by hospital name, in the in-process order, each checked as in-process
    ones are."""
    outcomes: dict[str, FitOutcome] = {}
    for node_id, fitres in sorted(
        replies.items(), key=lambda item: _order(item[1].metrics, item[0])
    ):
        name = known.setdefault(node_id, _name(fitres.metrics, node_id, known, nodes))
        summaries[name] = _summary(fitres.metrics)
        try:
            # Under SecAgg+ a reply carries the revealed sum, never this hospital's own update.
            outcome = FitOutcome(
                [] if secure else _update(fitres, shapes),
                fitres.num_examples,
                _strip(fitres.metrics),
            )
            payload.check(outcome, shapes, masked=secure)
        except ValueError as exc:
            books.hospital_failed(server_round, name, exc)
            continue
        outcomes[name] = outcome
    return outcomes


def _evaluate_round(
    grid: Grid,
    server: Server,
    weights: list[np.ndarray],
    server_round: int,
    timeout: float,
    known: dict[int, str],
    books: RoundRecorder,
) -> tuple[dict[str, dict], int]:
    """Metrics of the new global weights on the global test set and every node's test split."""
    evaluators = sorted(grid.get_node_ids())
    evaluated, failed = exchange.evaluate(grid, evaluators, weights, server_round, timeout)
    point = server.operating_point(list(evaluated.values()))
    metrics = {"global": server.evaluate(weights, point)}
    for node_id, hospital_metrics in evaluated.items():
        name = known.setdefault(node_id, _name(hospital_metrics, node_id, known, evaluators))
        metrics[name] = at_operating_point(_strip(hospital_metrics), point)
    for node_id, reason in failed.items():
        _dropped(books, server_round, node_id, known.get(node_id), "evaluation", reason)
    return metrics, len(evaluated)


# ---------------------------------------------------------------- small helpers


def _update(fitres: FitRes, shapes: list[tuple]) -> list[np.ndarray]:
    """A hospital's weights from its reply: one packed array (fedcore.flower.packing)."""
    received = parameters_to_ndarrays(fitres.parameters)
    if len(received) != 1:
        raise ValueError(
            f"update of {len(received)} arrays, not the one packed array of the model's weights"
        )
    return unpack(received[0], shapes)


def _flower_keys(instructions: dict) -> dict:
    return {key.replace("_", "-"): value for key, value in instructions.items()}


def _order(metrics: dict, node_id: int) -> tuple:
    # The in-process order (by position in the federation) makes the float sums identical.
    return int(metrics.get("partition-id", 0)), str(metrics.get("hospital", "")), node_id


def _name(metrics: dict, node_id: int, known: dict[int, str], connected: list[int]) -> str:
    # A hospital that comes back has a new node id but keeps its name; two connected
    # nodes claiming one name (a misconfigured data-path) are told apart by node id.
    name = str(metrics.get("hospital", f"node {node_id}"))
    taken = {n for other, n in known.items() if other != node_id and other in connected}
    return f"{name} (node {node_id})" if name in taken else name


def _strip(metrics: dict) -> dict:
    return {
        k: v for k, v in metrics.items() if k not in IDENTITY_KEYS and not k.startswith("count:")
    }


def _summary(metrics: dict) -> dict:
    """{split: {label: n}} from a hospital's ``count:split:label`` figures."""
    summary: dict[str, dict] = {}
    for key, value in metrics.items():
        if key.startswith("count:"):
            _, split, label = key.split(":")
            summary.setdefault(split, {})[label] = int(value)
    return summary


def _data_summary(summaries: dict[str, dict], global_test) -> dict:
    return {
        "source": "Flower SuperNodes, each reading its own data-path",
        "hospitals": dict(summaries),
        "global_test": global_test.class_counts(),
        "skipped": [],
        "notes": ["runtime=flower"],
    }


def _dropped(
    books: RoundRecorder, server_round: int, node_id: int, name: str | None, step: str, reason: str
) -> None:
    who = name or f"SuperNode {node_id}"
    message = (
        f"{who} dropped out of round {server_round} ({step}): {reason}; "
        "the round goes on without it"
    )
    books.store.event(
        books.run_id,
        "hospital_dropped",
        message,
        server_round,
        "warning",
        {"hospital": name, "node_id": node_id, "step": step, "reason": reason},
    )
    books.log(f"warning: {message}")


def _bytes_moved(
    outcomes: dict[str, FitOutcome], weights: list[np.ndarray], asked: int, evaluated: int
) -> int:
    """Weight bytes of the round's messages: global weights out to every node twice (train,
    evaluate), updates back.

    Under SecAgg+ an outcome holds no arrays (the server sees only the sum); each
    hospital still sent a model-sized update, so it counts as the model's size.
    """
    size = int(sum(w.nbytes for w in weights))
    return size * (asked + evaluated) + int(
        sum(o.payload_bytes() if o.weights else size for o in outcomes.values())
    )
