"""Graph loading: every form a `graphs` entry may take, and clear errors for the ones that cannot work."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from aegra.config import AegraConfig, load_config
from aegra.errors import ConfigError, NotFoundError
from aegra.graphs.registry import NAMESPACE_GRAPH, GraphRegistry, system_assistant_id

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FACTORIES = FIXTURES / "factories.py"


def _write_config(folder: Path, **content: Any) -> AegraConfig:
    path = folder / "aegra.json"
    path.write_text(json.dumps(content))
    return load_config(path)


def _registry(folder: Path, graphs: dict[str, str], **extra: Any) -> GraphRegistry:
    return GraphRegistry.from_config(_write_config(folder, graphs=graphs, **extra))


def _factories_module() -> Any:
    return next(module for module in sys.modules.values() if getattr(module, "__file__", None) == str(FACTORIES))


@pytest.fixture
def restore_sys_path() -> Iterator[None]:
    saved = list(sys.path)
    yield
    sys.path[:] = saved


async def _reply(registry: GraphRegistry, graph_id: str, **kwargs: Any) -> str:
    async with registry.get_graph(graph_id, **kwargs) as graph:
        result = await graph.ainvoke({"text": ""})
    return result["text"]


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("compiled", "compiled"),
        ("builder", "builder"),
        ("zero_arg", "zero_arg"),
        ("sync_context", "sync context"),
    ],
)
async def test_graph_entries_without_arguments_serve_their_graph(tmp_path: Path, attribute: str, expected: str) -> None:
    registry = _registry(tmp_path, {"g": f"{FACTORIES}:{attribute}"})

    reply = await _reply(registry, "g")

    assert reply == expected


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("with_config", "hi"),
        ("async_factory", "async hi"),
        ("async_context", "async context hi"),
        ("with_runtime", "threads.create_run"),
        ("with_both", "hi from threads.create_run"),
    ],
)
async def test_factories_receive_the_run_config_and_runtime(tmp_path: Path, attribute: str, expected: str) -> None:
    registry = _registry(tmp_path, {"g": f"{FACTORIES}:{attribute}"})

    reply = await _reply(
        registry, "g", config={"configurable": {"greeting": "hi"}}, access_context="threads.create_run"
    )

    assert reply == expected


async def test_runtime_factories_see_read_access_outside_runs(tmp_path: Path) -> None:
    registry = _registry(tmp_path, {"g": f"{FACTORIES}:with_runtime"})

    reply = await _reply(registry, "g")

    assert reply == "assistants.read"


async def test_zero_argument_factory_is_built_once_at_load(tmp_path: Path) -> None:
    registry = _registry(tmp_path, {"g": f"{FACTORIES}:zero_arg"})
    events = _factories_module().EVENTS
    events.clear()

    async with registry.get_graph("g") as first, registry.get_graph("g") as second:
        same = first is second

    assert registry.spec("g").factory is None
    assert same
    assert "zero_arg called" not in events


async def test_context_manager_factories_exit_after_use(tmp_path: Path) -> None:
    registry = _registry(tmp_path, {"a": f"{FACTORIES}:async_context", "s": f"{FACTORIES}:sync_context"})
    events = _factories_module().EVENTS
    events.clear()

    async with registry.get_graph("a"):
        inside_async = list(events)
    async with registry.get_graph("s"):
        inside_sync = list(events)

    assert inside_async == ["async enter"]
    assert inside_sync == ["async enter", "async exit", "sync enter"]
    assert events == ["async enter", "async exit", "sync enter", "sync exit"]


async def test_get_graph_binds_the_checkpointer(tmp_path: Path) -> None:
    registry = _registry(tmp_path, {"compiled": f"{FACTORIES}:compiled", "factory": f"{FACTORIES}:with_config"})
    saver = InMemorySaver()

    async with registry.get_graph("compiled", checkpointer=saver) as compiled:
        compiled_saver = compiled.checkpointer
    async with registry.get_graph("factory", checkpointer=saver) as built:
        built_saver = built.checkpointer

    assert compiled_saver is saver
    assert built_saver is saver
    assert registry.spec("compiled").graph is not None
    assert registry.spec("compiled").graph.checkpointer is None  # the shared instance is left untouched


def test_system_assistant_name_is_the_graph_name_unless_generic(tmp_path: Path) -> None:
    registry = _registry(tmp_path, {"named": f"{FACTORIES}:compiled", "generic": f"{FACTORIES}:builder"})

    assert registry.default_name("named") == "compiled_graph"
    assert registry.default_name("generic") == "generic"


def test_system_assistant_id_matches_langgraph_api() -> None:
    # The id LangGraph Platform gives the `agent` graph's default assistant (seen throughout its docs).
    assert str(system_assistant_id("agent")) == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
    assert NAMESPACE_GRAPH.hex == "6ba7b8219dad11d180b400c04fd430c8"


def test_unknown_graph_is_not_found(tmp_path: Path) -> None:
    registry = _registry(tmp_path, {"g": f"{FACTORIES}:compiled"})

    with pytest.raises(NotFoundError, match="'missing' not found"):
        registry.spec("missing")


async def test_graph_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "graph.py").write_text(FACTORIES.read_text())

    registry = _registry(project, {"g": "./graph.py:compiled"})

    assert await _reply(registry, "g") == "compiled"


@pytest.mark.usefixtures("restore_sys_path")
async def test_dependencies_go_on_sys_path_for_module_specs(tmp_path: Path) -> None:
    registry = _registry(tmp_path, {"dep": "dep_graphs:graph"}, dependencies=[str(FIXTURES / "deps")])

    reply = await _reply(registry, "dep")

    assert reply == "from a dependency"
    assert str(FIXTURES / "deps") in sys.path


async def test_env_is_applied_before_graphs_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AEGRA_TEST_GREETING", raising=False)
    config = _write_config(
        tmp_path, graphs={"env": f"{FIXTURES / 'env_graph.py'}:graph"}, env={"AEGRA_TEST_GREETING": "from env"}
    )

    registry = GraphRegistry.from_config(config)

    assert await _reply(registry, "env") == "from env"
    assert os.environ["AEGRA_TEST_GREETING"] == "from env"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("./missing.py:graph", "missing.py does not exist"),
        (f"{FACTORIES}:nope", "has no attribute 'nope'"),
        (f"{FACTORIES}:not_a_graph", "neither a graph nor a graph factory"),
        (f"{FACTORIES}:returns_a_dict", "returned a dict, not a LangGraph graph"),
        (f"{FACTORIES}:raises", "raised RuntimeError: no model configured"),
        (f"{FACTORIES}:too_many", "takes nothing, `config`, a runtime, or both"),
        (f"{FIXTURES / 'broken.py'}:graph", "failed: ZeroDivisionError: broken on purpose"),
        (f"{FIXTURES / 'not_python.ts'}:graph", "is not a Python file"),
        ("no_such_package.module:graph", "cannot import module 'no_such_package.module'"),
    ],
)
def test_bad_graph_entries_name_the_file_and_the_key(tmp_path: Path, spec: str, message: str) -> None:
    config = _write_config(tmp_path, graphs={"agent": spec})

    with pytest.raises(ConfigError) as excinfo:
        GraphRegistry.from_config(config)

    text = str(excinfo.value)
    assert str(tmp_path / "aegra.json") in text
    assert "`graphs.agent`" in text
    assert message in text


async def test_factory_that_returns_no_graph_per_call_is_a_config_error(tmp_path: Path) -> None:
    registry = _registry(tmp_path, {"g": f"{FACTORIES}:returns_a_string_per_call"})

    with pytest.raises(ConfigError, match="not a LangGraph graph"):
        async with registry.get_graph("g"):
            pass
