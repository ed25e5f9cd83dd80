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


def _circle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (its modules in order, the first repeated at the end), or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def _upward(graph: Mapping[str, set[str]], layer: str, forbidden: set[str]) -> list[str]:
    """The imports from `layer` into a `forbidden` (higher) layer."""
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _layer(module) == layer
        for target in targets
        if _layer(target) in forbidden
    )


def test_no_module_imports_itself_through_a_circle(import_graph: dict[str, set[str]]) -> None:
    circle = _circle(import_graph)

    assert circle is None, f"import circle: {' -> '.join(circle or ())}"


def test_a_circle_through_a_lazy_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from aegra import b\n")
    (package / "b.py").write_text("def f() -> None:\n    from aegra.a import x\n")
    modules = {f"{PACKAGE}.{name}": package / f"{name}.py" for name in ("a", "b")}
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}

    assert graph == {"aegra.a": {"aegra.b"}, "aegra.b": {"aegra.a"}}
    assert _circle(graph) is not None


def test_an_upward_import_is_found() -> None:
    graph = {"aegra.db.models": {"aegra.services.threads"}, "aegra.services.threads": set()}

    assert _upward(graph, "db", {"services"}) == ["aegra.db.models imports aegra.services.threads"]


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("db", {"api", "services", "runs", "crons"}),
        ("services", {"api"}),
        ("runs", {"api"}),
        ("crons", {"api"}),
        ("graphs", {"api", "services", "runs", "crons"}),
        ("observability", {"api", "services", "runs", "crons"}),
    ],
)
def test_lower_layers_never_import_higher_ones(
    import_graph: dict[str, set[str]], layer: str, forbidden: set[str]
) -> None:
    assert _upward(import_graph, layer, forbidden) == []


def test_snapshot_rendering_is_a_leaf_without_io(import_graph: dict[str, set[str]]) -> None:
    imported = import_graph["aegra.graphs.snapshots"]

    assert {target for target in imported if _layer(target) in {"api", "services", "runs", "crons"}} == set()
    assert "aegra.db.database" not in imported
