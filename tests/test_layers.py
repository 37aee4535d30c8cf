"""The package's layers, checked from the source: each subpackage imports only what its docstring
allows, the subpackages form no cycle, the server side never reaches the hospital side, and
modules stay small."""

from __future__ import annotations

import ast
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fedcore"
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def imported_fedcore_modules(path: Path) -> set[str]:
    """The fedcore modules a file imports, at any place in the file (lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fedcore"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fedcore"))
    return found


def package_imports(package: str) -> set[str]:
    """The other top-level parts of fedcore (subpackages or modules) that ``package`` imports."""
    parts = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for name in imported_fedcore_modules(path):
            top = name.split(".")[1] if "." in name else None
            if (
                top
                and top != package
                and (PACKAGE / top).exists()
                or (PACKAGE / f"{top}.py").exists()
            ):
                parts.add(top)
    return parts - {package}


def allowed(package: str) -> set[str]:
    """What the package's docstring says it may import ("May import from fedcore: a, b.")."""
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())) or ""
    match = re.search(r"May import from fedcore:(.*?)(?:\.\s*$|\.\n)", doc, re.S)
    if match is None or match.group(1).strip() == "nothing":
        return set()
    return {name.strip() for name in match.group(1).split(",")}


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_a_subpackage_imports_only_what_its_docstring_allows(package):
    assert package_imports(package) <= allowed(package)


def test_every_subpackage_says_what_it_holds_and_may_import():
    for package in SUBPACKAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
        assert doc and "May import from fedcore:" in doc, package


def test_the_subpackages_form_no_cycle():
    graph = {package: package_imports(package) & set(SUBPACKAGES) for package in SUBPACKAGES}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        pytest.fail(f"import cycle between subpackages: {cycle.args[1]}")


def test_no_module_name_is_repeated_across_levels():
    names = [p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"]
    names += [p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"]
    repeated = {n for n in names if names.count(n) > 1}
    assert not repeated


@pytest.mark.parametrize(
    "server_side", ["server", "flower/server_app.py", "privacy/dp_strategy.py"]
)
def test_the_server_side_never_imports_the_hospital_side(server_side):
    paths = (
        [PACKAGE / server_side]
        if server_side.endswith(".py")
        else (PACKAGE / server_side).rglob("*.py")
    )
    for path in paths:
        imported = imported_fedcore_modules(path)
        assert not {m for m in imported if m.startswith("fedcore.hospital")}, path
        assert not {m for m in imported if m.startswith("fedcore.run")}, path


def test_the_checker_sees_an_import():
    # The checks above pass trivially if the walk finds nothing: a run builds its hospitals.
    assert "hospital" in package_imports("run")
    assert "fedcore.hospital.kinds" in imported_fedcore_modules(PACKAGE / "run" / "setup.py")


def test_the_dashboard_serves_pages_from_views_not_pages():
    # Streamlit runs any top-level pages/*.py directly on a fresh server, before app.py and its
    # password gate: a direct link to such a page showed it to a session that never signed in.
    assert not list((ROOT / "pages").glob("*.py")) if (ROOT / "pages").exists() else True
    assert "views/" in (ROOT / "app.py").read_text()


def test_fedcore_never_imports_streamlit():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "streamlit" for n in names), path


def test_modules_and_functions_stay_small():
    # Function length counts code, not the docstring. Exempt: tables (the CLI's commands, the
    # bench's figures, every setting's declaration).
    exempt = {"cli.py", "bench.py", "run_config.py"}
    for path in PACKAGE.rglob("*.py"):
        if path.name in exempt:
            continue
        lines = path.read_text().splitlines()
        assert len(lines) <= 250, f"{path.relative_to(PACKAGE)} has {len(lines)} lines"
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if ast.get_docstring(node) is not None:
                    length -= node.body[0].end_lineno - node.body[0].lineno + 1
                assert length <= 60, f"{path.relative_to(PACKAGE)}:{node.name} has {length} lines"
