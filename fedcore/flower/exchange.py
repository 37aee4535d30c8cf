"""One round's messages between the ServerApp and the SuperNodes: train (plain or SecAgg+),
evaluate.

Each function sends to the nodes connected at the round's start and returns their
answers by node id, with why the others gave none (a timeout, an error reply from the
SuperLink for a node it found offline), so that the server can record the dropouts.
:class:`PromptGrid` collects the replies
as they arrive (Flower's own ``send_and_receive`` looks every 3 s).
"""

from __future__ import annotations

import time

import flwr.compat.common.recorddict_compat as compat
import numpy as np
from flwr.app import ConfigRecord, Context, Message, MessageType
from flwr.common import (
    EvaluateIns,
    FitIns,
    FitRes,
    GetPropertiesIns,
    Parameters,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common.constant import MessageTypeLegacy
from flwr.server import LegacyContext, ServerConfig, SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import Strategy as FlowerStrategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp import Grid

from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.flower.packing import pack, unpack

# Seconds between the ServerApp's asks for replies: a reply waits 0.05 s on average.
REPLY_POLL = 0.1


class PromptGrid(Grid):
    """The ServerApp's Grid, with ``send_and_receive`` asking for replies every ``poll`` seconds.

    Everything else is the wrapped Grid's. SecAgg+'s workflow gets this Grid too, so
    its four key-exchange steps are as prompt as training and evaluation.
    """

    def __init__(self, grid: Grid, poll: float = REPLY_POLL):
        self.grid, self.poll = grid, poll

    def set_run(self, run) -> None:
        self.grid.set_run(run)

    @property
    def run(self):
        return self.grid.run

    def create_message(self, *args, **kwargs) -> Message:
        return self.grid.create_message(*args, **kwargs)

    def get_node_ids(self):
        return self.grid.get_node_ids()

    def push_messages(self, messages):
        return self.grid.push_messages(messages)

    def pull_messages(self, message_ids):
        return self.grid.pull_messages(message_ids)

    def send_and_receive(self, messages, *, timeout: float | None = None) -> list[Message]:
        """Push ``messages``, then pull replies until all came or ``timeout`` seconds passed."""
        pending = {message_id for message_id in self.push_messages(messages) if message_id}
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending:
            arrived = list(self.pull_messages(pending))
            replies += arrived
            pending -= {reply.metadata.reply_to_message_id for reply in arrived}
            if pending and deadline is not None and time.monotonic() >= deadline:
                break
            if pending:
                time.sleep(self.poll)
        return replies


def train_plain(
    grid: Grid,
    nodes: list[int],
    weights: list[np.ndarray],
    instructions: dict,
    timeout: float,
    control: list[np.ndarray] | None = None,
) -> tuple[dict[int, FitRes], dict[int, str]]:
    """Send the global weights (and SCAFFOLD's control variate) to every node; their updates, in the
    clear.

    Each reply's parameters are the hospital's packed weights (fedcore.flower.packing).
    """
    sent = [pack(weights)] + ([] if control is None else [pack(control)])
    content = compat.fitins_to_recorddict(FitIns(ndarrays_to_parameters(sent), instructions), True)
    replies, failed = exchange(
        grid, nodes, content, MessageType.TRAIN, instructions["server-round"], timeout
    )
    return {n: compat.recorddict_to_fitres(m.content, False) for n, m in replies.items()}, failed


def train_secure(
    grid: Grid,
    context: Context,
    config: RunConfig,
    nodes: list[int],
    weights: list[np.ndarray],
    instructions: dict,
    timeout: float,
):
    """One round of Flower's SecAgg+: the hospitals' updates are masked; only their weighted mean is
    revealed.

    Returns
    -------
    (aggregate, replies, failed)
        The new global weights, each answering node's FitRes (metrics and counts; its
        parameters are the aggregate, never its own update), and the nodes that dropped.
    """
    round_strategy = SecureRound(instructions)
    manager = SimpleClientManager()
    for node_id in nodes:
        manager.register(GridClientProxy(node_id, grid, context.run_id))
    legacy = LegacyContext(context, ServerConfig(num_rounds=config.rounds), round_strategy, manager)
    legacy.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {Key.CURRENT_ROUND: instructions["server-round"]}
    )
    legacy.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
        ndarrays_to_parameters([pack(weights)]), True
    )
    # Any min-hospitals of them can rebuild a dropped hospital's mask: the round
    # survives dropouts down to that number, and no fewer can unmask anyone alone.
    workflow = SecAggPlusWorkflow(
        num_shares=1.0,
        reconstruction_threshold=max(2, int(config.extra["min_hospitals"])),
        max_weight=float(config.extra["secagg_max_weight"]),
        timeout=timeout,
    )
    workflow(grid, legacy)
    if round_strategy.results is None:
        raise FedXrayError(
            f"round {instructions['server-round']}: secure aggregation could not complete (too few "
            "hospitals answered to unmask the sum); see the SuperLink's log"
        )
    replies = {proxy.node_id: fitres for proxy, fitres in round_strategy.results}
    (revealed,) = parameters_to_ndarrays(round_strategy.aggregate)
    aggregate = unpack(revealed.astype(weights[0].dtype), [w.shape for w in weights])
    failed = {n: "did not complete the SecAgg+ round" for n in nodes if n not in replies}
    return aggregate, replies, failed


def prepare(grid: Grid, nodes: list[int], timeout: float) -> dict[int, dict]:
    """Each node loads its hospital (data, compiled model) before round 1; their identities by node
    id.

    The in-process engine loads its data and builds its model before its first round;
    this does the same on the SuperNodes, so that round 1 is timed as a round. A node
    that does not answer here is asked again by round 1, which records it if it fails.
    """
    content = compat.getpropertiesins_to_recorddict(GetPropertiesIns({}))
    replies, _ = exchange(grid, nodes, content, MessageTypeLegacy.GET_PROPERTIES, 0, timeout)
    return {
        n: compat.recorddict_to_getpropertiesres(m.content).properties for n, m in replies.items()
    }


def evaluate(
    grid: Grid, nodes: list[int], weights: list[np.ndarray], server_round: int, timeout: float
) -> tuple[dict[int, dict], dict[int, str]]:
    """Each node's metrics of the global weights on its own test split."""
    content = compat.evaluateins_to_recorddict(
        EvaluateIns(ndarrays_to_parameters([pack(weights)]), {}), True
    )
    replies, failed = exchange(grid, nodes, content, MessageType.EVALUATE, server_round, timeout)
    return {
        n: compat.recorddict_to_evaluateres(m.content).metrics for n, m in replies.items()
    }, failed


def exchange(
    grid: Grid, nodes: list[int], content, message_type: str, server_round: int, timeout: float
) -> tuple[dict[int, Message], dict[int, str]]:
    """Send ``content`` to every node; their replies by node id, and why the others gave none."""
    messages = [
        Message(
            content=content, dst_node_id=n, message_type=message_type, group_id=str(server_round)
        )
        for n in nodes
    ]
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


class SecureRound(FlowerStrategy):
    """The one-round strategy SecAgg+'s workflow asks: every node trains, the revealed mean is
    kept.
    """

    def __init__(self, instructions: dict):
        self.instructions = instructions
        self.results: list | None = None
        self.aggregate: Parameters | None = None

    def initialize_parameters(self, client_manager):
        return None

    def configure_fit(self, server_round, parameters, client_manager):
        return [
            (proxy, FitIns(parameters, self.instructions))
            for proxy in client_manager.all().values()
        ]

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


def wait_for_hospitals(grid: Grid, expected: int, minimum: int, seconds: float) -> None:
    """Wait up to ``seconds`` for ``expected`` SuperNodes; under ``minimum`` is a user error."""
    deadline = time.monotonic() + seconds
    while len(list(grid.get_node_ids())) < expected and time.monotonic() < deadline:
        time.sleep(1.0)
    connected = len(list(grid.get_node_ids()))
    if connected < minimum:
        raise FedXrayError(
            f"only {connected} SuperNode(s) connected within {seconds:.0f} s, fewer than "
            f"min-hospitals={minimum}: start one SuperNode per hospital (scripts/federation.sh)"
        )
