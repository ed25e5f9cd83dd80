"""The import graph of `src/aegra`: no circle anywhere, and imports run api → services/runs/crons → db.

Every `import` counts, wherever it is written (module level, inside a function, under `TYPE_CHECKING`): a circle
hidden behind a lazy import is still a circle for the next engineer."""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "aegra"


def _module_names() -> dict[str, Path]:
    names = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports(path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The `aegra` modules a file imports (`from a.b import c` imports module `a.b.c` when there is one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules}


@pytest.fixture(scope="module")
def import_graph() -> dict[str, set[str]]:
    modules = _module_names()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_no_module_imports_itself_through_a_circle(import_graph: dict[str, set[str]]) -> None:
    sorter = graphlib.TopologicalSorter(import_graph)

    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("db", {"api", "services", "runs", "crons"}),
        ("services", {"api"}),
        ("runs", {"api"}),
        ("crons", {"api"}),
    ],
)
def test_lower_layers_never_import_higher_ones(
    import_graph: dict[str, set[str]], layer: str, forbidden: set[str]
) -> None:
    offending = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph.items()
        if _layer(module) == layer
        for target in targets
        if _layer(target) in forbidden
    )

    assert offending == []


def test_snapshot_rendering_is_a_leaf_without_io(import_graph: dict[str, set[str]]) -> None:
    imported = import_graph["aegra.graphs.snapshots"]

    assert {target for target in imported if _layer(target) in {"api", "services", "runs", "crons"}} == set()
    assert "aegra.db.database" not in imported
