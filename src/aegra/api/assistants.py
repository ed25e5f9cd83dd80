"""`/assistants`: create, read, version, search and introspect assistants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import msgspec
from langgraph.pregel import Pregel
from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from aegra.api.dependencies import Assistants
from aegra.errors import UnprocessableError
from aegra.graphs.introspection import drawable_graph, graph_schemas, subgraph_schemas
from aegra.graphs.registry import GraphRegistry
from aegra.schemas.assistants import (
    Assistant,
    AssistantCount,
    AssistantCreate,
    AssistantSearch,
    AssistantSetLatest,
    AssistantUpdate,
    AssistantVersion,
    AssistantVersionsSearch,
    GraphDrawing,
    GraphSchemas,
    SubgraphSchemas,
)
from aegra.schemas.common import INT32_MAX
from aegra.services.assistants import AssistantService
from aegra.services.pagination import pagination_headers
from aegra.services.serialization import project


def parse_xray(raw: str | None) -> bool | int:
    """`xray` is `true`/`false` or a depth."""
    if raw is None or raw.lower() in ("false", "0", ""):
        return False
    if raw.lower() == "true":
        return True
    try:
        depth = int(raw)
    except ValueError:
        raise UnprocessableError("Invalid xray: must be a boolean or a non-negative integer") from None
    if depth < 0:
        raise UnprocessableError("Invalid xray: must be a boolean or a non-negative integer")
    return depth


@asynccontextmanager
async def assistant_graph(
    assistant_service: AssistantService, registry: GraphRegistry, assistant_id: str
) -> AsyncIterator[tuple[str, Pregel[Any, Any, Any, Any]]]:
    """The assistant's graph id and graph, built with the assistant's config for the caller."""
    assistant = await assistant_service.get(assistant_id)
    async with registry.get_graph(
        assistant.graph_id, config=assistant.config, user=assistant_service.auth.user
    ) as graph:
        yield assistant.graph_id, graph


async def read_subgraphs(
    assistant_service: AssistantService,
    registry: GraphRegistry,
    assistant_id: str,
    *,
    namespace: str | None,
    recurse: bool,
) -> dict[str, SubgraphSchemas]:
    """The schemas of the assistant's subgraphs (under `namespace`, when given), by namespace."""
    async with assistant_graph(assistant_service, registry, assistant_id) as (_, graph):
        found = await subgraph_schemas(graph, namespace=namespace, recurse=recurse)
    return msgspec.convert(found, type=dict[str, SubgraphSchemas])


def provide_chosen_version(
    data: JSONBody[AssistantSetLatest | None] = None,
    version: Annotated[int | None, QueryParameter(ge=1, le=INT32_MAX)] = None,
) -> int:
    """`POST …/latest`: the version named by the JSON body, else by the `version` query parameter."""
    chosen = data.version if data is not None else version
    if chosen is None:
        raise UnprocessableError("version is required (JSON body or query parameter)")
    return chosen


class AssistantController(Controller):
    path = "/assistants"
    tags = ["Assistants"]

    @post("/", operation_id="create_assistant_assistants_post", status_code=200, summary="Create Assistant")
    async def create(self, assistant_service: Assistants, data: JSONBody[AssistantCreate]) -> Assistant:
        return await assistant_service.create(data)

    @post("/search", operation_id="search_assistants_assistants_search_post", status_code=200)
    async def search(self, assistant_service: Assistants, data: JSONBody[AssistantSearch]) -> Response[list[Any]]:
        page = await assistant_service.search(data)
        return Response([project(item, data.select) for item in page.items], headers=pagination_headers(page))

    @post("/count", operation_id="count_assistants_assistants_count_post", status_code=200)
    async def count(self, assistant_service: Assistants, data: JSONBody[AssistantCount | None] = None) -> int:
        return await assistant_service.count(data or AssistantCount())

    @get("/{assistant_id:str}", operation_id="get_assistant_assistants__assistant_id__get")
    async def get_assistant(self, assistant_service: Assistants, assistant_id: FromPath[str]) -> Assistant:
        return await assistant_service.get(assistant_id)

    @patch("/{assistant_id:str}", operation_id="patch_assistant_assistants__assistant_id__patch")
    async def update(
        self, assistant_service: Assistants, assistant_id: FromPath[str], data: JSONBody[AssistantUpdate]
    ) -> Assistant:
        return await assistant_service.update(assistant_id, data)

    @delete("/{assistant_id:str}", operation_id="delete_assistant_assistants__assistant_id__delete", status_code=204)
    async def delete_assistant(self, assistant_service: Assistants, assistant_id: FromPath[str]) -> None:
        await assistant_service.delete(assistant_id)

    @post("/{assistant_id:str}/versions", operation_id="get_assistant_versions", status_code=200)
    async def versions(
        self,
        assistant_service: Assistants,
        assistant_id: FromPath[str],
        data: JSONBody[AssistantVersionsSearch | None] = None,
    ) -> list[AssistantVersion]:
        return await assistant_service.versions(assistant_id, data or AssistantVersionsSearch())

    @post(
        "/{assistant_id:str}/latest",
        operation_id="set_latest_assistant_version",
        status_code=200,
        dependencies={"chosen_version": Provide(provide_chosen_version, sync_to_thread=False)},
    )
    async def set_latest(
        self, assistant_service: Assistants, assistant_id: FromPath[str], chosen_version: NamedDependency[int]
    ) -> Assistant:
        return await assistant_service.set_latest(assistant_id, chosen_version)

    @get("/{assistant_id:str}/schemas", operation_id="get_assistant_schemas")
    async def schemas(
        self, assistant_service: Assistants, registry: NamedDependency[GraphRegistry], assistant_id: FromPath[str]
    ) -> GraphSchemas:
        async with assistant_graph(assistant_service, registry, assistant_id) as (graph_id, graph):
            return GraphSchemas(graph_id=graph_id, **graph_schemas(graph))

    @get("/{assistant_id:str}/graph", operation_id="get_assistant_graph")
    async def graph(
        self,
        assistant_service: Assistants,
        registry: NamedDependency[GraphRegistry],
        assistant_id: FromPath[str],
        xray: FromQuery[str | None] = None,
    ) -> GraphDrawing:
        depth = parse_xray(xray)
        async with assistant_graph(assistant_service, registry, assistant_id) as (_, graph):
            return msgspec.convert(drawable_graph(graph, xray=depth), type=GraphDrawing)

    @get("/{assistant_id:str}/subgraphs", operation_id="get_assistant_subgraphs")
    async def subgraphs(
        self,
        assistant_service: Assistants,
        registry: NamedDependency[GraphRegistry],
        assistant_id: FromPath[str],
        recurse: FromQuery[bool] = False,
    ) -> dict[str, SubgraphSchemas]:
        return await read_subgraphs(assistant_service, registry, assistant_id, namespace=None, recurse=recurse)

    @get("/{assistant_id:str}/subgraphs/{namespace:str}", operation_id="get_assistant_subgraphs_by_namespace")
    async def subgraphs_in_namespace(
        self,
        assistant_service: Assistants,
        registry: NamedDependency[GraphRegistry],
        assistant_id: FromPath[str],
        namespace: FromPath[str],
        recurse: FromQuery[bool] = False,
    ) -> dict[str, SubgraphSchemas]:
        return await read_subgraphs(assistant_service, registry, assistant_id, namespace=namespace, recurse=recurse)
