"""Load the graphs named in aegra.json and hand out ready-to-run instances of them.

A `graphs` entry may point at a compiled graph, an uncompiled `StateGraph`, or a factory. A factory takes
nothing, a `config`, a `ServerRuntime`-style runtime, or both (sync or async, plain or a context manager).
Zero-argument factories run once at load; the others run each time a graph is needed.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from aegra.adapters.langgraph_sdk import server_runtime
from aegra.config import AegraConfig, apply_env, config_error
from aegra.errors import ConfigError, NotFoundError
from aegra.graphs.compiled import CompiledGraph
from aegra.loading import LoadError, load_object
from aegra.serde import allow_state_types

logger = structlog.get_logger(__name__)

NAMESPACE_GRAPH = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")

AccessContext = Literal["threads.create_run", "threads.update", "threads.read", "assistants.read"]
FactoryArg = Literal["config", "runtime"]


def system_assistant_id(graph_id: str) -> uuid.UUID:
    """The stable id of a graph's system assistant (same as langgraph-api's)."""
    return uuid.uuid5(NAMESPACE_GRAPH, graph_id)


@dataclass(frozen=True, slots=True)
class GraphSpec:
    """A loaded graph entry: either a ready graph or a factory with the arguments it wants."""

    graph_id: str
    source: str
    description: str | None
    graph: CompiledGraph | None
    factory: Callable[..., Any] | None
    factory_args: tuple[FactoryArg, ...] = ()


class _GraphProblem(Exception):
    """What is wrong with one `graphs` entry; `load_graph` turns it into a ConfigError naming the key."""


def _factory_args(func: Callable[..., Any]) -> tuple[FactoryArg, ...]:
    """Which arguments a factory wants, in order: `config` and/or a runtime."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError) as exc:
        raise _GraphProblem(f"cannot inspect the factory's signature: {exc}") from exc
    args: list[FactoryArg] = []
    for param in parameters:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        annotation = str(param.annotation)
        if "Runtime" in annotation or param.name == "runtime":
            args.append("runtime")
        elif "Config" in annotation or param.name == "config" or param.default is inspect.Parameter.empty:
            args.append("config")
    if len(args) > 2 or len(set(args)) != len(args):
        names = ", ".join(inspect.signature(func).parameters)
        raise _GraphProblem(f"a graph factory takes nothing, `config`, a runtime, or both; this one takes ({names})")
    return tuple(args)


def _as_pregel(obj: Any) -> CompiledGraph:
    if isinstance(obj, Pregel):
        return obj
    if isinstance(obj, StateGraph):
        return obj.compile()
    raise _GraphProblem(f"got a {type(obj).__name__}, not a LangGraph graph (compiled graph or StateGraph)")


def _is_context_factory(func: Callable[..., Any]) -> bool:
    return inspect.isasyncgenfunction(inspect.unwrap(func)) or inspect.isgeneratorfunction(inspect.unwrap(func))


def _classify(obj: Any, graph_id: str, spec: str, description: str | None) -> GraphSpec:
    if isinstance(obj, Pregel | StateGraph):
        return GraphSpec(graph_id, spec, description, _as_pregel(obj), None)
    if not callable(obj):
        raise _GraphProblem(f"{spec!r} is a {type(obj).__name__}, neither a graph nor a graph factory")
    args = _factory_args(obj)
    if args or inspect.iscoroutinefunction(obj) or _is_context_factory(obj):
        return GraphSpec(graph_id, spec, description, None, obj, args)
    try:
        built = obj()
    except Exception as exc:
        raise _GraphProblem(f"the graph factory raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(built, Pregel | StateGraph):
        raise _GraphProblem(f"the graph factory returned a {type(built).__name__}, not a LangGraph graph")
    return GraphSpec(graph_id, spec, description, _as_pregel(built), None)


def load_graph(
    graph_id: str, spec: str, base_dir: Path, description: str | None = None, *, config_file: str = "aegra.json"
) -> GraphSpec:
    """Import one `graphs` entry and classify it; problems are ConfigErrors naming `graphs.<graph_id>`."""
    try:
        return _classify(load_object(spec, base_dir), graph_id, spec, description)
    except (LoadError, _GraphProblem) as exc:
        raise config_error(config_file, f"graphs.{graph_id}", str(exc)) from exc.__cause__


class GraphRegistry:
    """The graphs this server serves, by graph id."""

    def __init__(self, specs: Mapping[str, GraphSpec]) -> None:
        self._specs = dict(specs)

    @classmethod
    def from_config(cls, config: AegraConfig) -> GraphRegistry:
        """Apply the config's `env`, put its `dependencies` on sys.path, then import every graph."""
        apply_env(config)
        for dependency in config.dependencies:
            dep_path = config.resolve(dependency)
            if dep_path.is_dir() and str(dep_path) not in sys.path:
                sys.path.insert(0, str(dep_path))
        base_dir = Path(config.base_dir or ".")
        descriptions = config.graph_descriptions()
        config_file = config.config_file or "aegra.json"
        specs = {
            graph_id: load_graph(graph_id, spec, base_dir, descriptions.get(graph_id), config_file=config_file)
            for graph_id, spec in config.graph_paths().items()
        }
        logger.info("graphs loaded", graphs=sorted(specs))
        return cls(specs)

    def graph_ids(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self._specs

    def spec(self, graph_id: str) -> GraphSpec:
        try:
            return self._specs[graph_id]
        except KeyError:
            raise NotFoundError(f"Graph '{graph_id}' not found. Expected one of: {self.graph_ids()}") from None

    def default_name(self, graph_id: str) -> str:
        """Name of the system assistant: the compiled graph's own name unless it is the generic default."""
        graph = self.spec(graph_id).graph
        if graph is not None and graph.name and graph.name != "LangGraph":
            return graph.name
        return graph_id

    @contextlib.asynccontextmanager
    async def get_graph(
        self,
        graph_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        access_context: AccessContext = "assistants.read",
        checkpointer: Any = None,
        store: Any = None,
        context: Any = None,
        user: Any = None,
    ) -> AsyncIterator[CompiledGraph]:
        """Yield a graph instance bound to `checkpointer` and `store` (factories are built per call)."""
        spec = self.spec(graph_id)
        update: dict[str, Any] = {}
        if checkpointer is not None:
            update["checkpointer"] = checkpointer
        if store is not None:
            update["store"] = store
        if spec.graph is not None:
            yield _bound(spec.graph, update)
            return
        assert spec.factory is not None
        runtime = server_runtime(access_context, user=user, store=store, context=context)
        call_args = [dict(config or {}) if arg == "config" else runtime for arg in spec.factory_args]
        async with _call_factory(spec.factory, call_args) as built:
            try:
                graph = _as_pregel(built)
            except _GraphProblem as exc:
                raise ConfigError(f"Graph factory for {graph_id!r} ({spec.source}): {exc}") from None
            yield _bound(graph, update)


def _bound(graph: CompiledGraph, update: dict[str, Any]) -> CompiledGraph:
    """The graph with its checkpointer and store; the checkpointer also revives the types the graph's state names."""
    if "checkpointer" in update:
        update = {**update, "checkpointer": allow_state_types(update["checkpointer"], graph)}
    return graph.copy(update=update) if update else graph


@contextlib.asynccontextmanager
async def _call_factory(factory: Callable[..., Any], args: list[Any]) -> AsyncIterator[Any]:
    result = factory(*args)
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, contextlib.AbstractAsyncContextManager):
        async with result as graph:
            yield graph
        return
    if isinstance(result, contextlib.AbstractContextManager) and not isinstance(result, Pregel | StateGraph):
        with result as graph:
            yield graph
        return
    yield result
