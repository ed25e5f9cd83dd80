"""`/assistants`: create, read, version, search and introspect assistants."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from aegra.api.dependencies import provide_assistant_service
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
    AssistantVersionsSearch,
    GraphSchemas,
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


class AssistantController(Controller):
    path = "/assistants"
    tags = ["Assistants"]
    dependencies = {"assistant_service": Provide(provide_assistant_service, sync_to_thread=False)}

    @post("/", operation_id="create_assistant_assistants_post", status_code=200, summary="Create Assistant")
    async def create(
        self, assistant_service: NamedDependency[AssistantService], data: JSONBody[AssistantCreate]
    ) -> Assistant:
        return await assistant_service.create(data)

    @post("/search", operation_id="search_assistants_assistants_search_post", status_code=200)
    async def search(
        self, assistant_service: NamedDependency[AssistantService], data: JSONBody[AssistantSearch]
    ) -> Response[list[Any]]:
        page = await assistant_service.search(data)
        return Response([project(item, data.select) for item in page.items], headers=pagination_headers(page))

    @post("/count", operation_id="count_assistants_assistants_count_post", status_code=200)
    async def count(
        self, assistant_service: NamedDependency[AssistantService], data: JSONBody[AssistantCount | None] = None
    ) -> int:
        return await assistant_service.count(data or AssistantCount())

    @get("/{assistant_id:str}", operation_id="get_assistant_assistants__assistant_id__get")
    async def get_assistant(
        self, assistant_service: NamedDependency[AssistantService], assistant_id: FromPath[str]
    ) -> Assistant:
        return await assistant_service.get(assistant_id)

    @patch("/{assistant_id:str}", operation_id="patch_assistant_assistants__assistant_id__patch")
    async def update(
        self,
        assistant_service: NamedDependency[AssistantService],
        assistant_id: FromPath[str],
        data: JSONBody[AssistantUpdate],
    ) -> Assistant:
        return await assistant_service.update(assistant_id, data)

    @delete("/{assistant_id:str}", operation_id="delete_assistant_assistants__assistant_id__delete", status_code=204)
    async def delete_assistant(
        self, assistant_service: NamedDependency[AssistantService], assistant_id: FromPath[str]
    ) -> None:
        await assistant_service.delete(assistant_id)

    @post("/{assistant_id:str}/versions", operation_id="get_assistant_versions", status_code=200)
    async def versions(
        self,
        assistant_service: NamedDependency[AssistantService],
        assistant_id: FromPath[str],
        data: JSONBody[AssistantVersionsSearch | None] = None,
    ) -> list[dict[str, Any]]:
        return await assistant_service.versions(assistant_id, data or AssistantVersionsSearch())

    @post("/{assistant_id:str}/latest", operation_id="set_latest_assistant_version", status_code=200)
    async def set_latest(
        self,
        assistant_service: NamedDependency[AssistantService],
        assistant_id: FromPath[str],
        data: JSONBody[AssistantSetLatest | None] = None,
        version: Annotated[int | None, QueryParameter(ge=1, le=INT32_MAX)] = None,
    ) -> Assistant:
        chosen = data.version if data is not None else version
        if chosen is None:
            raise UnprocessableError("version is required (JSON body or query parameter)")
        return await assistant_service.set_latest(assistant_id, chosen)

    @get("/{assistant_id:str}/schemas", operation_id="get_assistant_schemas")
    async def schemas(
        self,
        assistant_service: NamedDependency[AssistantService],
        registry: NamedDependency[GraphRegistry],
        assistant_id: FromPath[str],
    ) -> GraphSchemas:
        assistant = await assistant_service.get(assistant_id)
        async with registry.get_graph(
            assistant.graph_id, config=assistant.config, user=assistant_service.auth.user
        ) as graph:
            return GraphSchemas(graph_id=assistant.graph_id, **graph_schemas(graph))

    @get("/{assistant_id:str}/graph", operation_id="get_assistant_graph")
    async def graph(
        self,
        assistant_service: NamedDependency[AssistantService],
        registry: NamedDependency[GraphRegistry],
        assistant_id: FromPath[str],
        xray: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        depth = parse_xray(xray)
        assistant = await assistant_service.get(assistant_id)
        async with registry.get_graph(
            assistant.graph_id, config=assistant.config, user=assistant_service.auth.user
        ) as graph:
            return drawable_graph(graph, xray=depth)

    @get("/{assistant_id:str}/subgraphs", operation_id="get_assistant_subgraphs")
    async def subgraphs(
        self,
        assistant_service: NamedDependency[AssistantService],
        registry: NamedDependency[GraphRegistry],
        assistant_id: FromPath[str],
        recurse: FromQuery[bool] = False,
    ) -> dict[str, Any]:
        return await self._subgraphs(assistant_service, registry, assistant_id, None, recurse)

    @get("/{assistant_id:str}/subgraphs/{namespace:str}", operation_id="get_assistant_subgraphs_by_namespace")
    async def subgraphs_in_namespace(
        self,
        assistant_service: NamedDependency[AssistantService],
        registry: NamedDependency[GraphRegistry],
        assistant_id: FromPath[str],
        namespace: FromPath[str],
        recurse: FromQuery[bool] = False,
    ) -> dict[str, Any]:
        return await self._subgraphs(assistant_service, registry, assistant_id, namespace, recurse)

    @staticmethod
    async def _subgraphs(
        assistant_service: AssistantService,
        registry: GraphRegistry,
        assistant_id: str,
        namespace: str | None,
        recurse: bool,
    ) -> dict[str, Any]:
        assistant = await assistant_service.get(assistant_id)
        async with registry.get_graph(
            assistant.graph_id, config=assistant.config, user=assistant_service.auth.user
        ) as graph:
            return await subgraph_schemas(graph, namespace=namespace, recurse=recurse)
