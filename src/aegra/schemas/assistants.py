"""Request and response bodies of `/assistants`."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from aegra.schemas.common import INT32_MAX, JsonObject, Limit, Offset, Page

AssistantField = Literal[
    "assistant_id", "graph_id", "name", "description", "config", "context", "created_at", "updated_at", "metadata",
    "version",
]  # fmt: skip
AssistantSortField = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]
Version = Annotated[int, msgspec.Meta(ge=1, le=INT32_MAX, description="An assistant version (1 and up).")]


class Assistant(msgspec.Struct, kw_only=True):
    """An assistant: a graph plus the configuration it runs with."""

    assistant_id: uuid.UUID
    graph_id: str
    config: JsonObject
    context: JsonObject
    metadata: JsonObject
    name: str
    created_at: str
    updated_at: str
    version: int
    description: str | None


class AssistantCreate(msgspec.Struct, kw_only=True):
    graph_id: str
    assistant_id: uuid.UUID | None = None
    config: JsonObject | None = None
    context: JsonObject | None = None
    metadata: JsonObject | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str | None = None
    description: str | None = None


class AssistantUpdate(msgspec.Struct, kw_only=True):
    """PATCH body; every field optional. Each update makes a new version."""

    graph_id: str | msgspec.UnsetType = msgspec.UNSET
    config: JsonObject | msgspec.UnsetType = msgspec.UNSET
    context: JsonObject | msgspec.UnsetType = msgspec.UNSET
    metadata: JsonObject | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET


class AssistantSearch(Page, kw_only=True):
    metadata: JsonObject | None = None
    graph_id: str | None = None
    name: str | None = None
    sort_by: AssistantSortField | None = None
    select: list[AssistantField] | None = None


class AssistantCount(msgspec.Struct, kw_only=True):
    metadata: JsonObject | None = None
    graph_id: str | None = None
    name: str | None = None


class AssistantVersionsSearch(msgspec.Struct, kw_only=True):
    metadata: JsonObject | None = None
    limit: Limit = 10
    offset: Offset = 0


class AssistantSetLatest(msgspec.Struct, kw_only=True):
    version: Version


class GraphSchemas(msgspec.Struct, kw_only=True):
    graph_id: str
    input_schema: JsonObject | None
    output_schema: JsonObject | None
    state_schema: JsonObject | None
    config_schema: JsonObject | None
    context_schema: JsonObject | None


class AssistantVersion(msgspec.Struct, kw_only=True):
    """One version of an assistant, as `POST /assistants/{id}/versions` lists them."""

    assistant_id: uuid.UUID
    version: int
    graph_id: str
    config: JsonObject
    context: JsonObject
    metadata: JsonObject
    created_at: str
    name: str
    description: str | None


class GraphDrawing(msgspec.Struct, kw_only=True):
    """The drawable graph (LangGraph's `Graph.to_json()`): nodes and edges as LangGraph describes them."""

    nodes: list[JsonObject]
    edges: list[JsonObject]


class SubgraphSchemas(msgspec.Struct, kw_only=True):
    """The schemas of one subgraph (`GET /assistants/{id}/subgraphs` maps namespaces to these)."""

    input_schema: JsonObject | None
    output_schema: JsonObject | None
    state_schema: JsonObject | None
    config_schema: JsonObject | None
    context_schema: JsonObject | None
