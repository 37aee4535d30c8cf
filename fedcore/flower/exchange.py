"""One step's messages between the ServerApp and the SuperNodes: query, train, evaluate.

Each function sends a Message to every node connected at the step's start and returns
their replies by node id (read by :mod:`fedcore.flower.records`), with why the others
gave none (a timeout, an error reply from the SuperLink for a node it found offline, an
exception in the hospital's ClientApp), so that the server can record the dropouts.
SecAgg+ rounds go through :mod:`fedcore.flower.secagg_legacy` instead of :func:`train_plain`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from flwr.app import Message, MessageType, RecordDict

from fedcore.errors import FedXrayError
from fedcore.flower import records
from fedcore.flower.prompt_grid import PromptGrid


def prepare(grid: PromptGrid, nodes: list[int], timeout: float) -> dict[int, records.Reply]:
    """Each node loads its hospital (data, compiled model) before round 1; who each one is.

    The in-process engine loads its data and builds its model before its first round;
    this does the same on the SuperNodes, so that round 1 is timed as a round. A node
    that does not answer here is asked again by round 1, which records it if it fails.
    """
    replies, _ = exchange(grid, nodes, RecordDict(), MessageType.QUERY, 0, timeout)
    return replies


def train_plain(
    grid: PromptGrid,
    nodes: list[int],
    weights: list[np.ndarray],
    instructions: dict,
    timeout: float,
    control: list[np.ndarray] | None = None,
    own_controls: dict[int, list[np.ndarray]] | None = None,
) -> tuple[dict[int, records.Reply], dict[int, str]]:
    """Send the global weights (and SCAFFOLD's control variate, and to the nodes in
    ``own_controls`` their hospital's own) to every node; their updates, in the clear."""
    content = records.instructions(weights, instructions, control)
    own = {n: records.with_own_control(content, c) for n, c in (own_controls or {}).items()}
    return exchange(
        grid, nodes, content, MessageType.TRAIN, instructions[records.SERVER_ROUND], timeout, own
    )


def evaluate(
    grid: PromptGrid,
    nodes: list[int],
    weights: list[np.ndarray],
    server_round: int,
    timeout: float,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[dict[int, records.Reply], dict[int, str]]:
    """Each node's metrics of the global weights on its own test split, and its validation
    counts; ``meanwhile`` runs here while the nodes evaluate (the server's own evaluation)."""
    content = records.instructions(weights, {records.SERVER_ROUND: server_round})
    return exchange(
        grid, nodes, content, MessageType.EVALUATE, server_round, timeout, None, meanwhile
    )


def exchange(
    grid: PromptGrid,
    nodes: list[int],
    content: RecordDict,
    message_type: str,
    server_round: int,
    timeout: float,
    own: dict[int, RecordDict] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[dict[int, records.Reply], dict[int, str]]:
    """Send ``content`` (or a node's ``own``) to every node; their replies by node id, and why the
    others gave none. ``meanwhile`` runs once the messages are out."""
    messages = [
        Message(
            content=(own or {}).get(n, content),
            dst_node_id=n,
            message_type=message_type,
            group_id=str(server_round),
        )
        for n in nodes
    ]
    replies = list(grid.send_and_receive(messages, timeout=timeout, meanwhile=meanwhile))
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
            answered[node_id] = records.read_reply(reply.content)
    for node_id in nodes:
        if node_id not in answered and node_id not in failed:
            failed[node_id] = f"no reply within {timeout:.0f} s"
    return answered, failed


def wait_for_hospitals(grid: PromptGrid, expected: int, minimum: int, seconds: float) -> None:
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
