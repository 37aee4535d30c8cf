"""Flower 1.42's fixed waits, shortened for rounds that take seconds, not minutes.

A SuperNode asks the SuperLink for work every 3 s when idle and checks for its
ClientApp's reply every 0.5 s; nodes and tasks send a heartbeat every ~20 s and are
given up on after 60 s; a message's parts (one object per weight array) that are not
uploaded yet are asked for again after 1 s, then 2, 4 and 8 s, and every hop (ServerApp
to SuperLink to SuperNode to ClientApp, and back) asks before the previous one finished
uploading. Those are constants in flwr's source, not settings, and on rounds of a few
seconds they are most of a round's time and of a dropout's cost. :func:`tune` lowers
them in this process only:

- ``poll``: the SuperNode's idle poll and reply wait (``start_client_internal``);
- ``heartbeat``: the heartbeat interval of the SuperNode (the SuperLink marks it
  offline after twice that) and of its executor's tasks (the SuperNode answers a
  task whose executor died with Flower's "ClientApp crashed" error after twice that);
- always, the wait before asking again for an object not uploaded yet: from 20 ms,
  doubling up to 0.5 s.

This reaches into flwr's modules, so flwr is pinned in requirements.txt and
``tests/flower/test_flower_runtime_api.py`` fails when one of them changes.
"""

from __future__ import annotations

import time as _time
from types import SimpleNamespace

import flwr.supercore.corestate.in_memory_corestate as _task_state
import flwr.supercore.heartbeat as _heartbeat_sender
import flwr.supercore.inflatable.inflatable_utils as _objects
import flwr.supernode.fleet_http_connection as _fleet_connection
import flwr.supernode.start_client_internal as _supernode_loop

# The shortest node heartbeat interval the SuperLink accepts
# (flwr.common.constant.HEARTBEAT_MIN_INTERVAL).
HEARTBEAT = 10.0
# Seconds between a SuperNode's asks for work when idle: a message waits 0.1 s on average
# instead of 1.5 s, for 5 small requests a second per hospital.
POLL = 0.2
# Seconds before asking again for an object not uploaded yet: the first, and the most.
PULL_BACKOFF, PULL_BACKOFF_CAP = 0.02, 0.5


def tune(poll: float | None = None, heartbeat: float | None = HEARTBEAT) -> None:
    """Shorten Flower's waits in this process.

    Parameters
    ----------
    poll : float, optional
        Longest sleep of the SuperNode's main loop, in seconds (None: leave it; an
        executor or ServerApp process has no SuperNode loop).
    heartbeat : float, optional
        Heartbeat interval, in seconds, for the SuperNode and the tasks it runs (None:
        leave it, as the ServerApp does).
    """
    for pull in (_objects.pull_objects, _objects.pull_and_inflate_object_from_tree):
        pull.__kwdefaults__.update(initial_backoff=PULL_BACKOFF, backoff_cap=PULL_BACKOFF_CAP)
    if poll is not None:
        clock = {name: getattr(_time, name) for name in dir(_time) if not name.startswith("_")}
        clock["sleep"] = lambda seconds: _time.sleep(min(seconds, poll))
        _supernode_loop.time = SimpleNamespace(**clock)
    if heartbeat is None:
        return
    _fleet_connection.HEARTBEAT_DEFAULT_INTERVAL = heartbeat
    _heartbeat_sender.HEARTBEAT_DEFAULT_INTERVAL = heartbeat
    _task_state.HEARTBEAT_DEFAULT_INTERVAL = heartbeat
