"""The Flower internals FedXray relies on, all in fedcore.flower.flwr_internals: fail loudly, naming
what moved, when flwr changes them.

The warm executor runs ClientApp tasks with Flower's Runtime API client and the per-task
steps of ``flwr-clientapp``; ``shorten_waits`` lowers constants in flwr's modules; SecAgg+
runs through the legacy workflow's internal records. None of that is public API, so flwr is
pinned, every other fedcore.flower module keeps to public API, and these tests say what to
rewrite after an upgrade (docs/flower.md, "What a Flower upgrade needs").
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import zipfile
from pathlib import Path

import flwr
import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWER = ROOT / "fedcore" / "flower"
INTERNALS = FLOWER / "flwr_internals.py"
# Flower's public API: what fedcore.flower may import from flwr outside flwr_internals.
PUBLIC = {
    "flwr.app",
    "flwr.clientapp",
    "flwr.serverapp",
    "flwr.common",
    "flwr.server",
    "flwr.server.strategy",
    "flwr.server.workflow",
    "flwr.client.mod",
}


def flwr_imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for every ``from flwr... import name`` and ``import flwr...`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "flwr":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] == "flwr"]
    return found


def test_flwr_is_the_pinned_version():
    assert f"flwr=={flwr.__version__}\n" in (ROOT / "requirements.txt").read_text(), (
        "fedcore/flower/flwr_internals.py was written against the flwr in requirements.txt"
    )


def test_only_flwr_internals_imports_from_outside_flowers_public_api():
    outside = {
        f"{path.name}: {module}"
        for path in FLOWER.glob("*.py")
        if path != INTERNALS
        for module, _ in flwr_imports(path)
        if module not in PUBLIC
    }
    assert not outside, "move these into fedcore/flower/flwr_internals.py"


@pytest.mark.parametrize("module, name", flwr_imports(INTERNALS))
def test_every_flwr_name_the_internals_module_uses_is_still_there(module, name):
    imported = importlib.import_module(module)
    assert name is None or hasattr(imported, name), f"{module}.{name} is gone"


def test_the_runtime_api_calls_the_executor_makes_keep_their_shape():
    from flwr.proto.runtime_pb2 import AcquireTaskRequest
    from flwr.supercore.constant import TaskType
    from flwr.supercore.runtime import RuntimeHttpClient
    from flwr.supernode.runtime import run_clientapp

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
    for call in ("AcquireTask", "PullTaskInput", "PullMessages", "PushMessages"):
        assert hasattr(RuntimeHttpClient, call), call
    assert hasattr(RuntimeHttpClient, "PushTaskOutput") and hasattr(
        RuntimeHttpClient, "SendTaskHeartbeat"
    )
    assert list(
        AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP]).supported_task_types
    ) == ["flwr-clientapp"]


def test_the_waits_shorten_waits_lowers_are_still_where_it_lowers_them():
    from fedcore.flower import flwr_internals as internals

    loop = inspect.getsource(internals.supernode_loop)
    assert "import time\n" in loop and "time.sleep(3)" in loop and "time.sleep(0.5)" in loop
    for module in (internals.fleet_connection, internals.heartbeat_sender, internals.task_state):
        assert "HEARTBEAT_DEFAULT_INTERVAL" in inspect.getsource(module), module.__name__
    pulls = (
        internals.object_pulls.pull_objects,
        internals.object_pulls.pull_and_inflate_object_from_tree,
    )
    for pull in pulls:
        assert {"initial_backoff", "backoff_cap"} <= set(pull.__kwdefaults__), pull.__name__


def test_shorten_waits_shortens_the_supernode_loop_heartbeats_and_object_pulls(monkeypatch):
    # Prepare: restore flwr's own values after the test
    from fedcore.flower import flwr_internals as internals

    modules = (internals.fleet_connection, internals.heartbeat_sender, internals.task_state)
    for module in modules:
        monkeypatch.setattr(module, "HEARTBEAT_DEFAULT_INTERVAL", module.HEARTBEAT_DEFAULT_INTERVAL)
    monkeypatch.setattr(internals.supernode_loop, "time", internals.supernode_loop.time)
    pull = internals.object_pulls.pull_objects
    monkeypatch.setattr(pull, "__kwdefaults__", dict(pull.__kwdefaults__))
    slept = []
    monkeypatch.setattr(internals.time, "sleep", slept.append)

    # Execute
    internals.shorten_waits(poll=0.25, heartbeat=12.0)
    internals.supernode_loop.time.sleep(3)
    internals.supernode_loop.time.sleep(0.5)

    # Assert: the idle poll is the given one; the wait for a reply in the SuperNode's own memory
    # is LOCAL_WAIT
    assert slept == [0.25, internals.LOCAL_WAIT]
    assert internals.supernode_loop.time.monotonic is internals.time.monotonic
    assert {module.HEARTBEAT_DEFAULT_INTERVAL for module in modules} == {12.0}
    assert pull.__kwdefaults__["initial_backoff"] == internals.PULL_BACKOFF


def test_a_serverapp_hears_of_its_superlinks_end_first_through_flowers_exit(monkeypatch):
    # Prepare: the chain that ends a ServerApp when its SuperLink dies (the SuperExec watches the
    # SuperLink, the ServerApp its SuperExec; each then SIGINTs itself), and an empty handler list
    from flwr.supercore.exit import exit_handler
    from flwr.supercore.superexec import run_superexec
    from flwr.superlink.runtime import run_serverapp

    from fedcore.flower import flwr_internals as internals

    for module in (run_superexec, run_serverapp):
        assert "start_parent_process_monitor(parent_pid)" in inspect.getsource(module)
    monkeypatch.setattr(exit_handler, "registered_exit_handlers", [])
    ran = []

    # Execute
    internals.on_exit(lambda: ran.append("fedxray"))
    exit_handler.trigger_exit_handlers(run_before_force_exit=False)
    later = list(ran)
    exit_handler.trigger_exit_handlers(run_before_force_exit=True)

    # Assert: it runs in the phase before Flower's force-exit timer starts
    assert (later, ran) == ([], ["fedxray"])


def test_secagg_plus_legacy_records_are_where_the_workflow_reads_them():
    from flwr.server.compat.grid_client_proxy import GridClientProxy
    from flwr.server.workflow.constant import Key

    assert list(inspect.signature(GridClientProxy).parameters) == ["node_id", "grid", "run_id"]
    workflow = importlib.import_module(
        "flwr.server.workflow.secure_aggregation.secaggplus_workflow"
    )
    source = inspect.getsource(workflow)
    for name in ("MAIN_CONFIGS_RECORD", "MAIN_PARAMS_RECORD", "CURRENT_ROUND"):
        assert name in source, name
    assert hasattr(Key, "CURRENT_ROUND")
    # secaggplus_mod still reads a train reply as a legacy FitRes
    mod = importlib.import_module("flwr.client.mod.secure_aggregation.secaggplus_mod")
    assert "recorddict_to_fitres" in inspect.getsource(mod)


def test_a_bundle_runs_only_where_its_code_is_this_machines(tmp_path):
    # Prepare: a local package and bundles that match it or not
    from fedcore.flower.executor import bundle_differences

    (tmp_path / "fedcore" / "flower").mkdir(parents=True)
    (tmp_path / "fedcore" / "__init__.py").write_text("")
    (tmp_path / "fedcore" / "flower" / "client_app.py").write_text("app = 1\n")

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
