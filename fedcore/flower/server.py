"""Flower ServerApp: fedcore's server side (FedAvg, global evaluation, the run store) over real SuperNodes.

The loop mirrors :func:`fedcore.engine.run`: every round asks each connected hospital
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
import time
import traceback

import flwr.compat.common.recorddict_compat as compat
import numpy as np
from flwr.app import ConfigRecord, Context, Message, MessageType
from flwr.common import EvaluateIns, FitIns, FitRes, Parameters, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerConfig, SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import Strategy as FlowerStrategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp import Grid, ServerApp

from fedcore import privacy
from fedcore.client import FitOutcome
from fedcore.config import RunConfig
from fedcore.engine import round_fit_info, save_round
from fedcore.errors import FedXrayError
from fedcore.flower_config import from_run_config
from fedcore.model import build_model
from fedcore.server import BestTracker, Server
from fedcore.site_data import load_global_test
from fedcore.store import RunStore

GLOBAL_TEST_ENV = "FEDXRAY_GLOBAL_TEST"
# Keys a hospital adds to its replies to say who it is; not metrics.
IDENTITY_KEYS = ("hospital", "partition-id")

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the federation the run config describes, round by round, into the run store."""
    config = from_run_config(context.run_config)
    store = RunStore()
    run_id = store.create_run(config.to_dict(), config.rounds, config.mode)
    try:
        _federate(grid, context, config, store, run_id)
    except FedXrayError as exc:
        store.finish(run_id, "failed", str(exc))
        store.event(run_id, "failed", str(exc), level="error")
        raise
    except Exception as exc:  # a bug: record it in plain words, keep the traceback in the event
        message = f"internal error ({exc.__class__.__name__}: {exc}); the last completed round is kept"
        store.finish(run_id, "failed", message)
        store.event(run_id, "failed", message, level="error", data={"traceback": traceback.format_exc()})
        raise


def _federate(grid: Grid, context: Context, config: RunConfig, store: RunStore, run_id: str) -> None:
    options = config.extra
    timeout = float(options["round_timeout"])
    min_hospitals = int(options["min_hospitals"])

    # ---------------------------------------------------------------- setup
    if not os.environ.get(GLOBAL_TEST_ENV):
        raise FedXrayError(f"the server has no global test set: set {GLOBAL_TEST_ENV} where the SuperLink starts "
                           "(a folder with NORMAL/ and PNEUMONIA/, or global_test.npz from "
                           "`python -m fedcore export-hospitals`)")
    built = build_model(config)
    global_test = load_global_test(os.environ[GLOBAL_TEST_ENV], config.input_size)
    if config.dp == "hospital" and options["secure_aggregation"]:
        raise FedXrayError("hospital-level DP clips each hospital's update, which SecAgg+ hides from the server: "
                           "choose one of them (patient-level DP works with SecAgg+)")
    strategy = privacy.run_strategy(config, config.hospitals)
    server = Server(strategy, built, global_test, config.threshold)
    weights, best = built.initial_weights, BestTracker()
    hospitals: dict[int, str] = {}  # node id -> hospital name, as each first answers
    summaries: dict[str, dict] = {}
    print(f"run {run_id}: flower, {config.backbone} at {config.input_size}px, {config.rounds} rounds, "
          f"secure aggregation {'on' if options['secure_aggregation'] else 'off'}", flush=True)
    _wait_for_hospitals(grid, config.hospitals, min_hospitals, float(options["wait_for_hospitals"]))

    # ---------------------------------------------------------------- the loop
    for server_round in range(1, config.rounds + 1):
        round_start = time.perf_counter()
        store.event(run_id, "round_started", f"round {server_round} of {config.rounds}", server_round)
        nodes = sorted(grid.get_node_ids())
        store.set_progress(run_id, {"round": server_round, "rounds": config.rounds, "step": "training",
                                    "hospital": None, "hospital_index": 0, "hospitals": len(nodes),
                                    "round_elapsed": 0.0, "mean_round_seconds": None})
        instructions = {"server-round": server_round, **_flower_keys(strategy.configure_fit(server_round, weights))}
        if options["secure_aggregation"]:
            aggregate, replies, failed = _train_secure(grid, context, config, nodes, weights, instructions, timeout)
        else:
            aggregate, (replies, failed) = None, _train(grid, nodes, weights, instructions, timeout)

        outcomes: dict[str, FitOutcome] = {}
        for node_id, fitres in sorted(replies.items(), key=lambda item: _order(item[1].metrics, item[0])):
            name = hospitals.setdefault(node_id, _name(fitres.metrics, node_id, hospitals, nodes))
            summaries[name] = _summary(fitres.metrics)
            arrays = [] if aggregate is not None else parameters_to_ndarrays(fitres.parameters)
            outcomes[name] = FitOutcome(arrays, fitres.num_examples, _strip(fitres.metrics))
        for node_id, reason in failed.items():
            _dropped(store, run_id, server_round, node_id, hospitals.get(node_id), "training", reason)
        if len(outcomes) < min_hospitals:
            raise FedXrayError(f"round {server_round}: only {len(outcomes)} hospital(s) answered, fewer than "
                               f"min-hospitals={min_hospitals}; see the run's hospital_dropped events")
        store.set_data_summary(run_id, _data_summary(summaries, global_test), built.notice)

        weights = aggregate if aggregate is not None else server.aggregate(server_round, list(outcomes.values()),
                                                                           weights)
        store.set_progress(run_id, {"round": server_round, "rounds": config.rounds, "step": "evaluating",
                                    "hospital": None, "hospital_index": len(outcomes), "hospitals": len(nodes),
                                    "round_elapsed": time.perf_counter() - round_start, "mean_round_seconds": None})
        metrics = {"global": server.evaluate(weights)}
        evaluators = sorted(grid.get_node_ids())
        evaluated, failed = _evaluate(grid, evaluators, weights, server_round, timeout)
        for node_id, hospital_metrics in evaluated.items():
            name = hospitals.setdefault(node_id, _name(hospital_metrics, node_id, hospitals, evaluators))
            metrics[name] = _strip(hospital_metrics)
        for node_id, reason in failed.items():
            _dropped(store, run_id, server_round, node_id, hospitals.get(node_id), "evaluation", reason)

        seconds = time.perf_counter() - round_start
        fit_info = round_fit_info(outcomes, [hospitals.get(n, f"node {n}") for n in nodes], weights,
                                  privacy.server_spent(strategy, server_round))
        fit_info["_round"].update({"runtime": "flower", "secure_aggregation": bool(options["secure_aggregation"]),
                                   "bytes_moved": _bytes_moved(outcomes, weights, len(nodes), len(evaluated))})
        names = sorted(set(hospitals.values()))
        save_round(store, run_id, server_round, {"global": weights}, metrics, names, fit_info,
                   metrics["global"]["auroc"], best, seconds)
        g = metrics["global"]
        print(f"round {server_round:>2}/{config.rounds} ({seconds:5.1f}s)  global acc {g['accuracy']:.3f} "
              f"auroc {g['auroc']:.3f} loss {g['loss']:.3f}  | hospitals {', '.join(outcomes)}"
              + (f" | dropped {len(failed)}" if failed else ""), flush=True)
    store.finish(run_id, "finished")
    store.event(run_id, "finished", f"finished {config.rounds} rounds; best round {best.best_round}")


# ---------------------------------------------------------------- one round's exchanges

def _train(grid: Grid, nodes: list[int], weights: list[np.ndarray], instructions: dict,
           timeout: float) -> tuple[dict[int, FitRes], dict[int, str]]:
    """Send the global weights to every node and collect their updates in the clear."""
    content = compat.fitins_to_recorddict(FitIns(ndarrays_to_parameters(weights), instructions), True)
    replies, failed = _exchange(grid, nodes, content, MessageType.TRAIN, instructions["server-round"], timeout)
    return {n: compat.recorddict_to_fitres(m.content, False) for n, m in replies.items()}, failed


def _train_secure(grid: Grid, context: Context, config: RunConfig, nodes: list[int], weights: list[np.ndarray],
                  instructions: dict, timeout: float):
    """One round of Flower's SecAgg+: the hospitals' updates are masked; only their weighted mean is revealed.

    Returns
    -------
    (aggregate, replies, failed)
        The new global weights, each answering node's FitRes (metrics and counts; its
        parameters are the aggregate, never its own update), and the nodes that dropped.
    """
    round_strategy = _SecureRound(instructions)
    manager = SimpleClientManager()
    for node_id in nodes:
        manager.register(GridClientProxy(node_id, grid, context.run_id))
    legacy = LegacyContext(context, ServerConfig(num_rounds=config.rounds), round_strategy, manager)
    legacy.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({Key.CURRENT_ROUND: instructions["server-round"]})
    legacy.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
        ndarrays_to_parameters(weights), True)
    # Any min-hospitals of them can rebuild a dropped hospital's mask: the round
    # survives dropouts down to that number, and no fewer can unmask anyone alone.
    workflow = SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=max(2, int(config.extra["min_hospitals"])),
                                  max_weight=float(config.extra["secagg_max_weight"]), timeout=timeout)
    workflow(grid, legacy)
    if round_strategy.results is None:
        raise FedXrayError(f"round {instructions['server-round']}: secure aggregation could not complete (too few "
                           "hospitals answered to unmask the sum); see the SuperLink's log")
    replies = {proxy.node_id: fitres for proxy, fitres in round_strategy.results}
    aggregate = [a.astype(w.dtype) for a, w in zip(parameters_to_ndarrays(round_strategy.aggregate), weights)]
    failed = {n: "did not complete the SecAgg+ round" for n in nodes if n not in replies}
    return aggregate, replies, failed


def _evaluate(grid: Grid, nodes: list[int], weights: list[np.ndarray], server_round: int,
              timeout: float) -> tuple[dict[int, dict], dict[int, str]]:
    """Each node's metrics of the global weights on its own test split."""
    content = compat.evaluateins_to_recorddict(EvaluateIns(ndarrays_to_parameters(weights), {}), True)
    replies, failed = _exchange(grid, nodes, content, MessageType.EVALUATE, server_round, timeout)
    return {n: compat.recorddict_to_evaluateres(m.content).metrics for n, m in replies.items()}, failed


def _exchange(grid: Grid, nodes: list[int], content, message_type: str, server_round: int,
              timeout: float) -> tuple[dict[int, Message], dict[int, str]]:
    """Send ``content`` to every node; their replies by node id, and why the others gave none."""
    messages = [Message(content=content, dst_node_id=n, message_type=message_type, group_id=str(server_round))
                for n in nodes]
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    # A reply for a node the SuperLink found offline comes from the SuperLink itself:
    # match replies to what they answer, not to their sender.
    node_of = {m.metadata.message_id: m.metadata.dst_node_id for m in messages}
    answered, failed = {}, {}
    for reply in replies:
        node_id = node_of.get(reply.metadata.reply_to_message_id)
        if node_id is None:
            continue
        if reply.has_error():
            failed[node_id] = reply.error.reason
        else:
            answered[node_id] = reply
    for node_id in nodes:
        if node_id not in answered and node_id not in failed:
            failed[node_id] = f"no reply within {timeout:.0f} s"
    return answered, failed


class _SecureRound(FlowerStrategy):
    """The one-round strategy SecAgg+'s workflow asks: every node trains, the revealed mean is kept."""

    def __init__(self, instructions: dict):
        self.instructions = instructions
        self.results: list | None = None
        self.aggregate: Parameters | None = None

    def initialize_parameters(self, client_manager):
        return None

    def configure_fit(self, server_round, parameters, client_manager):
        return [(proxy, FitIns(parameters, self.instructions)) for proxy in client_manager.all().values()]

    def aggregate_fit(self, server_round, results, failures):
        # SecAgg+ puts the unmasked weighted mean into every result's parameters.
        self.results = results
        self.aggregate = results[0][1].parameters if results else None
        return self.aggregate, {}

    def configure_evaluate(self, server_round, parameters, client_manager):
        return []

    def aggregate_evaluate(self, server_round, results, failures):
        return None, {}

    def evaluate(self, server_round, parameters):
        return None


# ---------------------------------------------------------------- small helpers

def _wait_for_hospitals(grid: Grid, expected: int, minimum: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while len(list(grid.get_node_ids())) < expected and time.monotonic() < deadline:
        time.sleep(1.0)
    connected = len(list(grid.get_node_ids()))
    if connected < minimum:
        raise FedXrayError(f"only {connected} SuperNode(s) connected within {seconds:.0f} s, fewer than "
                           f"min-hospitals={minimum}: start one SuperNode per hospital (scripts/federation.sh)")


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
    return {k: v for k, v in metrics.items() if k not in IDENTITY_KEYS and not k.startswith("count:")}


def _summary(metrics: dict) -> dict:
    """{split: {label: n}} from a hospital's ``count:split:label`` figures."""
    summary: dict[str, dict] = {}
    for key, value in metrics.items():
        if key.startswith("count:"):
            _, split, label = key.split(":")
            summary.setdefault(split, {})[label] = int(value)
    return summary


def _data_summary(summaries: dict[str, dict], global_test) -> dict:
    return {"source": "Flower SuperNodes, each reading its own data-path", "hospitals": dict(summaries),
            "global_test": global_test.class_counts(), "skipped": [], "notes": ["runtime=flower"]}


def _dropped(store: RunStore, run_id: str, server_round: int, node_id: int, name: str | None, step: str,
             reason: str) -> None:
    who = name or f"SuperNode {node_id}"
    message = f"{who} dropped out of round {server_round} ({step}): {reason}; the round goes on without it"
    store.event(run_id, "hospital_dropped", message, server_round, "warning",
                {"hospital": name, "node_id": node_id, "step": step, "reason": reason})
    print(f"warning: {message}", flush=True)


def _bytes_moved(outcomes: dict[str, FitOutcome], weights: list[np.ndarray], asked: int, evaluated: int) -> int:
    """Weight bytes of the round's messages: global weights out to every node twice (train, evaluate), updates back."""
    size = int(sum(w.nbytes for w in weights))
    return size * (asked + evaluated) + int(sum(o.payload_bytes() for o in outcomes.values()))
