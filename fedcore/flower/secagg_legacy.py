"""Secure aggregation (SecAgg+) through Flower's legacy strategy API: both ends.

flwr 1.42 offers SecAgg+ only as ``SecAggPlusWorkflow`` (ServerApp) with ``secaggplus_mod``
(ClientApp), which speak the legacy FitIns / FitRes messages of the strategy API, not the
Message API's records. This module keeps that translation in one place, so that the rest of
the Flower side reads and writes :mod:`fedcore.flower.records` only:

- on the server, :func:`train_secure` runs one round of the workflow with a one-round
  strategy (:class:`SecureRound`) and returns the revealed weighted mean and each
  hospital's reply as a :class:`fedcore.flower.records.Reply`;
- on a hospital, :func:`secure_aggregation_mod` puts ``secaggplus_mod`` in front of the
  ClientApp's train handler when the run asked for it, and translates the one stage that
  reaches the handler (collect masked vectors) from FitIns to records and back to FitRes.

A reply's records other than its arrays travel in the FitRes's scalar metrics as
``record/key``; its update travels masked, and the server sees only the sum.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.common import (
    Code,
    FitIns,
    FitRes,
    Parameters,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.strategy import Strategy as FlowerStrategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.serverapp import Grid

from fedcore.config.run_config import RunConfig
from fedcore.errors import FedXrayError
from fedcore.flower import flwr_internals, records
from fedcore.flower.packing import pack, unpack


def train_secure(
    grid: Grid,
    context: Context,
    config: RunConfig,
    nodes: list[int],
    weights: list[np.ndarray],
    instructions: dict,
    timeout: float,
) -> tuple[list[np.ndarray], dict[int, records.Reply], dict[int, str]]:
    """One round of Flower's SecAgg+: the hospitals' updates are masked; only their weighted mean
    is revealed.

    Returns
    -------
    (aggregate, replies, failed)
        The new global weights, each answering node's reply (figures and counts, no
        arrays), and why the other nodes gave none.
    """
    server_round = int(instructions[records.SERVER_ROUND])
    round_strategy = SecureRound(instructions)
    legacy = flwr_internals.legacy_round(
        grid, context, nodes, round_strategy, server_round, ndarrays_to_parameters([pack(weights)])
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
            f"round {server_round}: secure aggregation could not complete (too few hospitals "
            "answered to unmask the sum); see the SuperLink's log"
        )
    replies = {
        proxy.node_id: records.read_reply(unflatten(fitres.metrics))
        for proxy, fitres in round_strategy.results
    }
    (revealed,) = parameters_to_ndarrays(round_strategy.aggregate)
    aggregate = unpack(revealed.astype(weights[0].dtype), [w.shape for w in weights])
    failed = {n: "did not complete the SecAgg+ round" for n in nodes if n not in replies}
    return aggregate, replies, failed


class SecureRound(FlowerStrategy):
    """The one-round strategy SecAgg+'s workflow asks: every node trains, the revealed mean is
    kept."""

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


def secure_aggregation_mod(
    msg: Message, context: Context, call_next: Callable[[Message, Context], Message]
) -> Message:
    """Apply Flower's ``secaggplus_mod`` to a train message when the run asked for secure
    aggregation."""
    if not context.run_config.get("secure-aggregation", False):
        return call_next(msg, context)

    def train(message: Message, ctx: Context) -> Message:
        # Only the collect-masked-vectors stage gets here, with a legacy FitIns.
        asked = flwr_internals.fit_instructions(message.content)
        message.content = RecordDict(
            {
                records.ARRAYS: ArrayRecord(parameters_to_ndarrays(asked.parameters)),
                records.CONFIG: ConfigRecord(dict(asked.config)),
            }
        )
        reply = call_next(message, ctx)
        content = reply.content
        reply.content = flwr_internals.fit_result_content(
            FitRes(
                Status(Code.OK, ""),
                ndarrays_to_parameters(content[records.ARRAYS].to_numpy_ndarrays()),
                int(content[records.METRICS][records.NUM_EXAMPLES]),
                flatten(content),
            )
        )
        return reply

    return secaggplus_mod(msg, context, train)


def flatten(content: RecordDict) -> dict:
    """The scalar records of ``content`` as one dict of ``record/key`` (its arrays left out)."""
    return {
        f"{name}/{key}": value
        for name, record in content.items()
        if not isinstance(record, ArrayRecord)
        for key, value in record.items()
    }


def unflatten(flat: dict) -> RecordDict:
    """The records :func:`flatten` made ``flat`` from (each a ConfigRecord)."""
    grouped: dict[str, dict] = {}
    for path, value in flat.items():
        name, key = path.split("/", 1)
        grouped.setdefault(name, {})[key] = value
    return RecordDict({name: ConfigRecord(values) for name, values in grouped.items()})
