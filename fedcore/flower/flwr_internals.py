"""Every name FedXray takes from flwr's internal modules, in one place.

The rest of fedcore.flower uses Flower's public API only (``flwr.app``, ``flwr.clientapp``,
``flwr.serverapp``, ``flwr.common``, and ``flwr.server`` / ``flwr.client.mod`` for SecAgg+).
What public API cannot do is here, for three reasons:

- the warm executor (fedcore.flower.executor) runs ClientApp tasks as ``flwr-clientapp``
  does, one after another in one process: the Runtime API client, its task messages and
  the per-task steps of ``flwr.supernode.runtime.run_clientapp``;
- Flower's fixed waits (polls, heartbeats, the back-off before asking again for an object
  not uploaded yet) are module constants, not settings: :func:`shorten_waits` lowers them
  in the calling process;
- SecAgg+ exists in flwr 1.42 only as a workflow for the legacy strategy API, which looks
  for its round and weights under internal record names and wraps nodes in an internal proxy.

flwr is pinned in requirements.txt; tests/flower/test_flower_runtime_api.py checks each
name below and fails, naming it, when another flwr moves it (docs/flower.md, "What a
Flower upgrade needs").
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import flwr.compat.common.recorddict_compat as legacy_records
import flwr.supercore.corestate.in_memory_corestate as task_state
import flwr.supercore.heartbeat as heartbeat_sender
import flwr.supercore.inflatable.inflatable_utils as object_pulls
import flwr.supernode.fleet_http_connection as fleet_connection
import flwr.supernode.start_client_internal as supernode_loop
from flwr.app import ConfigRecord, Context, Error, Message, RecordDict
from flwr.common import FitIns, FitRes, Parameters, log
from flwr.common.constant import ErrorCode, SubStatus
from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=E0611
from flwr.server import LegacyContext, ServerConfig, SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import Strategy
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp import Grid
from flwr.supercore.constant import SUPERNODE_UVICORN_DEFAULT_PORT, UVICORN_DEFAULT_HOST, TaskType
from flwr.supercore.exit import add_exit_handler
from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
from flwr.supercore.retry import make_simple_http_retry_invoker
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supernode.cli.flower_supernode import flower_supernode
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

# Where a SuperNode's Runtime API listens unless told otherwise (flower-supernode's defaults).
RUNTIME_API_HOST, RUNTIME_API_PORT = UVICORN_DEFAULT_HOST, SUPERNODE_UVICORN_DEFAULT_PORT
# The shortest node heartbeat interval the SuperLink accepts (HEARTBEAT_MIN_INTERVAL), seconds.
HEARTBEAT = 10.0
# Seconds between a SuperNode's asks for work when idle: a message waits 0.1 s on average
# instead of 1.5 s, for 5 small requests a second per hospital. Asking sooner measured slower:
# each ask costs the SuperLink about 9 ms of CPU, which the hospitals' training then lacks.
POLL = 0.2
# Seconds between a SuperNode's looks for its executor's reply (Flower: 0.5 s): in its own
# memory, so no request is made and the reply leaves within 10 ms of being ready.
LOCAL_WAIT = 0.01
# Seconds before asking again for an object not uploaded yet: the first, and the most.
PULL_BACKOFF, PULL_BACKOFF_CAP = 0.02, 0.5

# What the executor does with one task: (message, context, app bundle's hash, its bytes) -> reply.
TaskHandler = Callable[[Message, Context, str, bytes], Message]


def shorten_waits(poll: float | None = None, heartbeat: float | None = HEARTBEAT) -> None:
    """Shorten Flower's fixed waits in this process.

    Always: the wait before asking again for an object not uploaded yet, from 20 ms
    doubling up to 0.5 s (Flower: 1 s up to 10 s), on every hop.

    Parameters
    ----------
    poll : float, optional
        The SuperNode main loop's idle poll, in seconds (Flower: 3 s); its waits for the
        executor's reply (Flower: 0.5 s) become :data:`LOCAL_WAIT`. None: leave it (a process
        without a SuperNode loop).
    heartbeat : float, optional
        Heartbeat interval, in seconds, of the SuperNode and of the tasks it runs (Flower:
        30 s; the SuperLink gives a node up after twice that). None: leave it.
    """
    for pull in (object_pulls.pull_objects, object_pulls.pull_and_inflate_object_from_tree):
        pull.__kwdefaults__.update(initial_backoff=PULL_BACKOFF, backoff_cap=PULL_BACKOFF_CAP)
    if poll is not None:
        supernode_loop.time = _supernode_clock(poll)
    if heartbeat is not None:
        for module in (fleet_connection, heartbeat_sender, task_state):
            module.HEARTBEAT_DEFAULT_INTERVAL = heartbeat


def _supernode_clock(poll: float) -> SimpleNamespace:
    """``time`` as the SuperNode's loop sees it: its one long sleep (3 s, no message came) is
    ``poll``; its short ones (0.5 s, a reply or an object on this machine not ready yet) are
    :data:`LOCAL_WAIT`."""
    clock = {name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    clock["sleep"] = lambda seconds: time.sleep(min(seconds, poll if seconds >= 1 else LOCAL_WAIT))
    return SimpleNamespace(**clock)


def run_supernode(flower_args: list[str], on_exit: Callable[[], None]) -> None:
    """Run Flower's SuperNode (``flower-supernode FLOWER_ARGS``) in this process until it stops.

    ``on_exit`` runs when it stops, signals included.
    """
    add_exit_handler(on_exit)
    sys.argv = ["flower-supernode", *flower_args]
    flower_supernode()


def on_exit(handler: Callable[[], None]) -> None:
    """Run ``handler`` first when Flower ends this process (``flwr_exit``: a signal, which is how a
    ServerApp learns that its SuperLink went away), before Flower's other exit handlers and the
    5 s after which Flower forces the exit."""
    add_exit_handler(handler, run_before_force_exit=True)


def clientapp_tasks(runtime_api_address: str, poll: float) -> Iterator[str]:
    """The token of each ClientApp task the SuperNode hands out, forever; asks every ``poll`` s."""
    tasks = _runtime_client(
        runtime_api_address, RuntimeVersionHttpInterceptor(component_name="SuperExec")
    )
    while True:
        acquired = tasks.AcquireTask(AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP]))
        if acquired.HasField("task") and acquired.token:
            yield acquired.token
        else:
            time.sleep(poll)


def run_clientapp_task(runtime_api_address: str, token: str, handle: TaskHandler) -> None:
    """One ClientApp task, as ``flwr-clientapp`` runs it: pull its message, handle it, push the
    reply.

    An exception in ``handle`` becomes an error reply carrying its reason (the server
    records the hospital as dropped from the round) and is logged; it is not raised.
    """
    client = _runtime_client(
        runtime_api_address,
        RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
        RuntimeTokenHttpInterceptor(token),
    )
    heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
    heartbeat.start()
    message = context = reply = None
    status, details = SubStatus.FAILED, "the ClientApp failed for an unknown reason"
    try:
        message, context, _run, fab = pull_task_input(client)
        reply = handle(message, context, fab.hash_str, fab.content)
        status, details = SubStatus.COMPLETED, ""
    except Exception as exc:  # pylint: disable=broad-exception-caught
        log(logging.ERROR, "ClientApp raised an exception", exc_info=exc)
        details = f"{type(exc).__name__}: {exc}"
        if message is not None:
            reply = Message(
                Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=details), reply_to=message
            )
    finally:
        try:
            if reply is not None and context is not None:
                push_message(client, reply, context)
        finally:
            push_task_output(client=client, context=context, sub_status=status, details=details)
            heartbeat.stop()
            client.close()


def legacy_round(
    grid: Grid,
    context: Context,
    nodes: list[int],
    strategy: Strategy,
    server_round: int,
    parameters: Parameters,
) -> LegacyContext:
    """The context a legacy workflow (SecAggPlusWorkflow) reads to run round ``server_round``
    over ``nodes`` with ``strategy``, from the global weights ``parameters``."""
    manager = SimpleClientManager()
    for node_id in nodes:
        manager.register(GridClientProxy(node_id, grid, context.run_id))
    legacy = LegacyContext(context, ServerConfig(num_rounds=server_round), strategy, manager)
    legacy.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {Key.CURRENT_ROUND: server_round}
    )
    legacy.state.array_records[MAIN_PARAMS_RECORD] = legacy_records.parameters_to_arrayrecord(
        parameters, True
    )
    return legacy


def fit_instructions(content: RecordDict) -> FitIns:
    """The legacy FitIns a legacy workflow's train message holds."""
    return legacy_records.recorddict_to_fitins(content, keep_input=True)


def fit_result_content(result: FitRes) -> RecordDict:
    """A legacy FitRes as the content of a reply, as ``secaggplus_mod`` reads it."""
    return legacy_records.fitres_to_recorddict(result, keep_input=True)


def _runtime_client(address: str, *interceptors) -> RuntimeHttpClient:
    return RuntimeHttpClient.from_server_address(
        server_address=address,
        insecure=True,
        root_certificates=None,
        interceptors=list(interceptors),
        retry_invoker=make_simple_http_retry_invoker(),
    )
