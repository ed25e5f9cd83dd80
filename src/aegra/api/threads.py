"""`/threads`: create, read, search, copy and prune threads; read and write their state and history."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromHeader, FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from aegra.api.dependencies import Threads, ThreadStates
from aegra.errors import UnprocessableError
from aegra.schemas.threads import (
    CheckpointRef,
    HistorySearch,
    PruneResult,
    StateAtCheckpoint,
    StateUpdate,
    Thread,
    ThreadCount,
    ThreadCreate,
    ThreadPrune,
    ThreadSearch,
    ThreadState,
    ThreadUpdate,
    ThreadUpdateStateResponse,
)
from aegra.services.pagination import pagination_headers
from aegra.services.state import ThreadStateService
from aegra.services.threads import project


def parse_include(raw: str | None) -> list[str]:
    """`include=ttl` (comma separated, as the SDK sends it)."""
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def provide_history_search(limit: FromQuery[int] = 10, before: FromQuery[str | None] = None) -> HistorySearch:
    """`GET …/history`: the query of `POST …/history`, from query parameters."""
    if not 1 <= limit <= 1000:
        raise UnprocessableError("Invalid limit: must be between 1 and 1000")
    return HistorySearch(limit=limit, before=before)


def provide_state_query(
    subgraphs: FromQuery[bool] = False, select: FromQuery[list[str] | None] = None
) -> StateAtCheckpoint:
    """`GET …/state[/{checkpoint_id}]`: the body of `POST …/state/checkpoint`, from query parameters."""
    return StateAtCheckpoint(checkpoint=CheckpointRef(), subgraphs=subgraphs, select=select)


async def read_state(service: ThreadStateService, thread_id: str, query: StateAtCheckpoint) -> ThreadState:
    """The thread's state (at `query.checkpoint`, when it names one)."""
    state = await service.get_state(thread_id, query.checkpoint, subgraphs=query.subgraphs, select_fields=query.select)
    return msgspec.convert(state, type=ThreadState)


async def read_history(service: ThreadStateService, thread_id: str, query: HistorySearch) -> list[ThreadState]:
    return msgspec.convert(await service.history(thread_id, query), type=list[ThreadState])


Query = NamedDependency[StateAtCheckpoint]
History = NamedDependency[HistorySearch]


class ThreadController(Controller):
    path = "/threads"
    tags = ["Threads"]
    dependencies = {
        "state_query": Provide(provide_state_query, sync_to_thread=False),
        "history_search": Provide(provide_history_search, sync_to_thread=False),
    }

    @post("/", operation_id="create_thread_threads_post", status_code=200, summary="Create Thread")
    async def create(self, thread_service: Threads, data: JSONBody[ThreadCreate | None] = None) -> Thread:
        return await thread_service.create(data or ThreadCreate())

    @post("/search", operation_id="search_threads_threads_search_post", status_code=200, summary="Search Threads")
    async def search(self, thread_service: Threads, data: JSONBody[ThreadSearch | None] = None) -> Response[list[Any]]:
        query = data or ThreadSearch()
        page = await thread_service.search(query)
        return Response([project(item, query.select) for item in page.items], headers=pagination_headers(page))

    @post("/count", operation_id="count_threads_threads_count_post", status_code=200, summary="Count Threads")
    async def count(self, thread_service: Threads, data: JSONBody[ThreadCount | None] = None) -> int:
        return await thread_service.count(data or ThreadCount())

    @post("/prune", operation_id="prune_threads_threads_prune_post", status_code=200, summary="Prune Threads")
    async def prune(self, thread_service: Threads, data: JSONBody[ThreadPrune]) -> PruneResult:
        return PruneResult(pruned_count=await thread_service.prune(data))

    @get("/{thread_id:str}", operation_id="get_thread_threads__thread_id__get", summary="Get Thread")
    async def get_thread(
        self,
        thread_service: Threads,
        thread_id: FromPath[str],
        include: FromQuery[str | None] = None,
    ) -> Thread:
        return await thread_service.get(thread_id, include=parse_include(include))

    @patch("/{thread_id:str}", operation_id="patch_thread_threads__thread_id__patch", summary="Patch Thread")
    async def update(
        self,
        thread_service: Threads,
        thread_id: FromPath[str],
        data: JSONBody[ThreadUpdate],
        prefer: FromHeader[str | None] = None,
    ) -> Response[Any]:
        thread = await thread_service.update(thread_id, data)
        if prefer is not None and "return=minimal" in prefer:
            return Response(None, status_code=HTTP_204_NO_CONTENT)
        return Response(thread)

    @delete(
        "/{thread_id:str}",
        operation_id="delete_thread_threads__thread_id__delete",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete Thread",
    )
    async def delete_thread(self, thread_service: Threads, thread_id: FromPath[str]) -> None:
        await thread_service.delete(thread_id)

    @post(
        "/{thread_id:str}/copy",
        operation_id="copy_thread_post_threads__thread_id__copy_post",
        status_code=200,
        summary="Copy Thread",
    )
    async def copy(self, thread_service: Threads, thread_id: FromPath[str]) -> Thread:
        return await thread_service.copy(thread_id)

    @get(
        "/{thread_id:str}/state",
        operation_id="get_latest_thread_state_threads__thread_id__state_get",
        summary="Get Latest Thread State",
    )
    async def get_state(
        self, thread_state_service: ThreadStates, thread_id: FromPath[str], state_query: Query
    ) -> ThreadState:
        return await read_state(thread_state_service, thread_id, state_query)

    @post(
        "/{thread_id:str}/state",
        operation_id="update_thread_state_threads__thread_id__state_post",
        status_code=200,
        summary="Update Thread State",
    )
    async def update_state(
        self, thread_state_service: ThreadStates, thread_id: FromPath[str], data: JSONBody[StateUpdate | None] = None
    ) -> ThreadUpdateStateResponse:
        update = await thread_state_service.update_state(thread_id, data or StateUpdate())
        return msgspec.convert(update, type=ThreadUpdateStateResponse)

    @get(
        "/{thread_id:str}/state/{checkpoint_id:str}",
        operation_id="get_thread_state_at_checkpoint_threads__thread_id__state__checkpoint_id__get",
        summary="Get Thread State At Checkpoint",
    )
    async def get_state_at(
        self,
        thread_state_service: ThreadStates,
        thread_id: FromPath[str],
        checkpoint_id: FromPath[str],
        state_query: Query,
    ) -> ThreadState:
        query = msgspec.structs.replace(state_query, checkpoint=CheckpointRef(checkpoint_id=checkpoint_id))
        return await read_state(thread_state_service, thread_id, query)

    @post(
        "/{thread_id:str}/state/checkpoint",
        operation_id="get_thread_state_at_checkpoint_post_threads__thread_id__state_checkpoint_post",
        status_code=200,
        summary="Get Thread State At Checkpoint",
    )
    async def post_state_at(
        self, thread_state_service: ThreadStates, thread_id: FromPath[str], data: JSONBody[StateAtCheckpoint]
    ) -> ThreadState:
        return await read_state(thread_state_service, thread_id, data)

    @get(
        "/{thread_id:str}/history",
        operation_id="get_thread_history_threads__thread_id__history_get",
        summary="Get Thread History",
    )
    async def get_history(
        self, thread_state_service: ThreadStates, thread_id: FromPath[str], history_search: History
    ) -> list[ThreadState]:
        return await read_history(thread_state_service, thread_id, history_search)

    @post(
        "/{thread_id:str}/history",
        operation_id="get_thread_history_post_threads__thread_id__history_post",
        status_code=200,
        summary="Get Thread History",
    )
    async def post_history(
        self, thread_state_service: ThreadStates, thread_id: FromPath[str], data: JSONBody[HistorySearch | None] = None
    ) -> list[ThreadState]:
        return await read_history(thread_state_service, thread_id, data or HistorySearch())
