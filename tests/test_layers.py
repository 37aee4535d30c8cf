"""The package's layers, checked from the source: what the server side may import, and module sizes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fedcore"
HOSPITAL_SIDE = {"fedcore.client", "fedcore.privacy.dp_sgd", "fedcore.flower.client"}


def module_path(name: str) -> Path:
    relative = Path(*name.split(".")[1:])
    package = PACKAGE / relative / "__init__.py"
    return package if package.exists() else PACKAGE / relative.with_suffix(".py")


def fedcore_imports(name: str) -> set[str]:
    """The fedcore modules ``name`` imports, at any depth and at any place in the file (lazy imports too)."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for node in ast.walk(ast.parse(module_path(current).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fedcore"):
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names if a.name.startswith("fedcore")]
            else:
                continue
            todo += [c for c in candidates if module_path(c).exists()]
    return seen - {name}


@pytest.mark.parametrize("server_module", ["fedcore.server", "fedcore.flower.server", "fedcore.recorder"])
def test_the_server_side_never_imports_the_hospital_side(server_module):
    assert not fedcore_imports(server_module) & HOSPITAL_SIDE


def test_the_flower_server_does_not_import_the_in_process_engine():
    imported = fedcore_imports("fedcore.flower.server")
    assert "fedcore.engine" not in imported and "fedcore.modes" not in imported


def test_the_checker_sees_an_import():
    # The checks above pass trivially if the walk finds nothing: the engine does import the hospital side.
    assert "fedcore.client" in fedcore_imports("fedcore.engine")


def test_modules_and_functions_stay_small():
    # Function length counts code, not the docstring.
    # bench.py and cli.py hold tables.
    exempt = {"bench.py", "cli.py"}
    for path in PACKAGE.rglob("*.py"):
        if path.name in exempt:
            continue
        lines = path.read_text().splitlines()
        assert len(lines) <= 250, f"{path.relative_to(PACKAGE)} has {len(lines)} lines"
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if ast.get_docstring(node) is not None:  # the docstring explains; it is not the function's bulk
                    length -= node.body[0].end_lineno - node.body[0].lineno + 1
                assert length <= 60, f"{path.relative_to(PACKAGE)}:{node.name} has {length} lines"
