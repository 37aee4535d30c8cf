"""The Flower internals FedXray's SuperNode and warm executor rely on: fail loudly when flwr changes
them.

fedcore.flower.executor does what ``flwr-clientapp`` does with Flower's Runtime API
client and messages, and fedcore.flower.timing shortens constants in flwr's modules.
Neither is public API, so flwr is pinned; these tests name what moved when it is not.
"""

from __future__ import annotations

import inspect
import io
import zipfile
from pathlib import Path

import flwr
import flwr.supercore.corestate.in_memory_corestate as task_state
import flwr.supercore.heartbeat as heartbeat_sender
import flwr.supernode.fleet_http_connection as fleet_connection
import flwr.supernode.start_client_internal as supernode_loop
from flwr.proto.runtime_pb2 import AcquireTaskRequest
from flwr.supercore.constant import TaskType
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supernode.runtime import run_clientapp

from fedcore.flower import timing
from fedcore.flower.executor import bundle_differences

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def test_flwr_is_the_pinned_version():
    assert f"flwr=={flwr.__version__}\n" in REQUIREMENTS.read_text(), (
        "fedcore.flower.executor and fedcore.flower.timing were written against the flwr in "
        "requirements.txt"
    )


def test_the_runtime_api_calls_the_executor_makes_exist():
    # The per-message steps of flwr-clientapp, reused one task at a time
    assert list(inspect.signature(run_clientapp.pull_task_input).parameters) == ["client"]
    assert list(inspect.signature(run_clientapp.push_message).parameters) == [
        "client",
        "message",
        "context",
    ]
    assert list(inspect.signature(run_clientapp.push_task_output).parameters) == [
        "client",
        "context",
        "sub_status",
        "details",
    ]
    for call in (
        "AcquireTask",
        "PullTaskInput",
        "PullMessages",
        "PushMessages",
        "PushTaskOutput",
        "SendTaskHeartbeat",
    ):
        assert hasattr(RuntimeHttpClient, call), call
    assert list(
        AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP]).supported_task_types
    ) == ["flwr-clientapp"]


def test_the_waits_timing_shortens_are_still_where_it_shortens_them():
    loop = inspect.getsource(supernode_loop)
    assert "import time\n" in loop and "time.sleep(3)" in loop and "time.sleep(0.5)" in loop
    for module in (fleet_connection, heartbeat_sender, task_state):
        assert "HEARTBEAT_DEFAULT_INTERVAL" in inspect.getsource(module), module.__name__
        assert hasattr(module, "HEARTBEAT_DEFAULT_INTERVAL"), module.__name__


def test_tune_shortens_the_supernode_loop_and_heartbeats(monkeypatch):
    # Prepare: restore flwr's own values after the test
    for module in (fleet_connection, heartbeat_sender, task_state):
        monkeypatch.setattr(module, "HEARTBEAT_DEFAULT_INTERVAL", module.HEARTBEAT_DEFAULT_INTERVAL)
    monkeypatch.setattr(supernode_loop, "time", supernode_loop.time)
    slept = []
    monkeypatch.setattr(timing._time, "sleep", slept.append)

    # Execute
    timing.tune(poll=0.25, heartbeat=12.0)
    supernode_loop.time.sleep(3)
    supernode_loop.time.sleep(0.1)

    # Assert
    assert slept == [0.25, 0.1]
    assert supernode_loop.time.monotonic is timing._time.monotonic
    assert (
        fleet_connection.HEARTBEAT_DEFAULT_INTERVAL
        == heartbeat_sender.HEARTBEAT_DEFAULT_INTERVAL
        == 12.0
    )
    assert task_state.HEARTBEAT_DEFAULT_INTERVAL == 12.0


def test_a_bundle_runs_only_where_its_code_is_this_machines(tmp_path):
    # Prepare: a local package and bundles that match it or not
    (tmp_path / "fedcore" / "flower").mkdir(parents=True)
    (tmp_path / "fedcore" / "__init__.py").write_text("")
    (tmp_path / "fedcore" / "flower" / "client.py").write_text("app = 1\n")

    def bundle(files: dict) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as fab:
            for name, text in files.items():
                fab.writestr(name, text)
        return buffer.getvalue()

    same = {
        "fedcore/__init__.py": "",
        "fedcore/flower/client_app.py": "app = 1\n",
        "pyproject.toml": "x",
    }

    # Execute / Assert
    assert bundle_differences(bundle(same), tmp_path) == []
    assert bundle_differences(
        bundle({**same, "fedcore/flower/client_app.py": "app = 2\n"}), tmp_path
    ) == ["fedcore/flower/client_app.py"]
    assert bundle_differences(
        bundle({"fedcore/__init__.py": "", "fedcore/new.py": ""}), tmp_path
    ) == ["fedcore/flower/client_app.py", "fedcore/new.py"]
