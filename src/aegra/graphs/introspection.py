"""What Studio and the SDK read about a graph: JSON schemas, the drawable graph, subgraphs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from langgraph.pregel import Pregel
from pydantic import TypeAdapter, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from aegra.graphs.compiled import CompiledGraph


def _state_jsonschema(graph: CompiledGraph) -> dict[str, Any] | None:
    """JSON schema of the state channels a client sees (one optional field per stream channel)."""
    fields: dict[str, Any] = {}
    for name in graph.stream_channels_list:
        channel = graph.channels.get(name)
        if channel is None:
            continue
        update_type: Any = getattr(channel, "UpdateType", Any)  # managed values have none
        try:
            TypeAdapter(update_type).json_schema()
        except (PydanticSchemaGenerationError, PydanticUserError, TypeError, ValueError):
            update_type = Any
        fields[name] = (update_type, None)
    try:
        schema: dict[str, Any] = create_model(graph.get_name("State"), **fields).model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError, ValueError):
        return None
    return schema


def _safe(schema_fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return schema_fn()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError, ValueError):
        return None


def _config_jsonschema(graph: CompiledGraph) -> dict[str, Any]:
    schema = _safe(graph.get_config_jsonschema) or {}
    configurable = schema.get("properties", {}).get("configurable")
    if not configurable:
        return {}
    ref = configurable.get("$ref") or next(
        (item.get("$ref") for item in configurable.get("allOf", []) if "$ref" in item), None
    )
    if ref is None:
        return dict(configurable)
    resolved = dict(schema.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {}))
    if defs := schema.get("$defs"):
        resolved["$defs"] = defs
    return resolved


def graph_schemas(graph: CompiledGraph) -> dict[str, Any]:
    """Input, output, state, config and context schemas of a graph (each may be null)."""
    return {
        "input_schema": _safe(graph.get_input_jsonschema),
        "output_schema": _safe(graph.get_output_jsonschema),
        "state_schema": _state_jsonschema(graph),
        "config_schema": _config_jsonschema(graph),
        "context_schema": _safe(graph.get_context_jsonschema),
    }


def drawable_graph(graph: CompiledGraph, *, xray: bool | int = False) -> dict[str, Any]:
    """The `{nodes, edges}` drawing of a graph, as langgraph-api returns it."""
    drawing: dict[str, Any] = graph.get_graph(xray=xray).to_json()
    for node in drawing.get("nodes", []):
        data = node.get("data")
        if isinstance(data, dict):
            data.pop("id", None)
    return drawing


async def subgraph_schemas(
    graph: CompiledGraph, *, namespace: str | None = None, recurse: bool = False
) -> dict[str, Any]:
    """Schemas of each subgraph keyed by namespace (`parent|child` when recursing)."""
    result: dict[str, Any] = {}
    async for ns, subgraph in graph.aget_subgraphs(namespace=namespace, recurse=recurse):
        if isinstance(subgraph, Pregel):  # a local subgraph (a remote one has no schemas to read here)
            result[ns] = graph_schemas(subgraph)
    return result
