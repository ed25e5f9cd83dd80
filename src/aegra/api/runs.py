"""`/threads/{thread_id}/runs` and the stateless `/runs`: create, stream, wait, join, cancel, list, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from aegra.api.dependencies import Follower, Runs
from aegra.db.models import Run as RunRow
from aegra.errors import UnprocessableError
from aegra.runs import sse
from aegra.runs.follow import RunFollower
from aegra.runs.intake import RunIntakeMiddleware
from aegra.runs.service import RunService
from aegra.schemas.common import INT64_MAX
from aegra.schemas.runs import (
    CancelAction,
    Run,
    RunCreate,
    RunCreateStateful,
    RunCreateStateless,
    RunField,
    RunsCancel,
    StreamMode,
)
from aegra.schemas.status import RunStatus
from aegra.services.serialization import project, to_schema

LastEventId = Annotated[str | None, HeaderParameter(name="Last-Event-ID")]
PageLimit = Annotated[int, QueryParameter(ge=1, le=1000)]
PageOffset = Annotated[int, QueryParameter(ge=0, le=INT64_MAX)]
JSON_MEDIA_TYPE = "application/json"
# The routes that create runs: while their requests are in flight, claimed runs wait to start (`runs.intake`).
INTAKE = [RunIntakeMiddleware]


def parse_stream_modes(raw: list[str] | None) -> list[StreamMode] | None:
    """`stream_mode` of a join: repeated values, or a JSON list as langgraph-api also accepts; empty means all."""
    modes: list[str] = []
    for value in raw or []:
        if value.startswith("["):
            try:
                modes.extend(msgspec.json.decode(value, type=list[str]))
            except (msgspec.ValidationError, msgspec.DecodeError):
                raise UnprocessableError(f"Invalid stream_mode {value!r}") from None
        elif value:
            modes.append(value)
    try:
        return msgspec.convert(modes, type=list[StreamMode]) or None
    except msgspec.ValidationError as exc:
        raise UnprocessableError(f"Invalid stream_mode: {exc}") from None


def run_location(row: RunRow, *, stateless: bool = False) -> str:
    """The run's URL path (`Content-Location`); stateless runs are addressed without their throwaway thread."""
    return f"/runs/{row.run_id}" if stateless else f"/threads/{row.thread_id}/runs/{row.run_id}"


def sse_response(body: AsyncIterator[bytes], location: str) -> Stream:
    """An event stream with langgraph-api's headers; `Location` is where the SDK reconnects."""
    return Stream(
        body,
        media_type=sse.MEDIA_TYPE,
        headers={**sse.HEADERS, "Location": f"{location}/stream", "Content-Location": location},
    )


def json_stream(body: AsyncIterator[bytes], location: str) -> Stream:
    """A wait/join answer: streamed so keep-alive newlines can precede the JSON."""
    return Stream(
        body, media_type=JSON_MEDIA_TYPE, headers={"Location": f"{location}/join", "Content-Location": location}
    )


@dataclass(frozen=True, slots=True)
class JoinOptions:
    """How a client follows an existing run's stream: from which event on, which modes, and whether leaving
    cancels the run."""

    last_event_id: str | None
    modes: Sequence[str] | None
    cancel_on_disconnect: bool


def provide_join_options(
    last_event_id: LastEventId = None,
    stream_mode: FromQuery[list[str] | None] = None,
    cancel_on_disconnect: FromQuery[bool] = False,
) -> JoinOptions:
    return JoinOptions(last_event_id, parse_stream_modes(stream_mode), cancel_on_disconnect)


async def create_run(runs: RunService, thread_id: str | None, data: RunCreate) -> Response[Run]:
    """A background run, stateful or (no `thread_id`) stateless."""
    row = await runs.create(thread_id, data)
    return Response(to_schema(row, Run), headers={"Content-Location": run_location(row, stateless=thread_id is None)})


async def stream_run(follower: RunFollower, thread_id: str | None, data: RunCreate) -> Stream:
    row, body = await follower.stream(thread_id, data)
    return sse_response(body, run_location(row, stateless=thread_id is None))


async def wait_run(follower: RunFollower, thread_id: str | None, data: RunCreate) -> Stream:
    row, body = await follower.wait(thread_id, data)
    return json_stream(body, run_location(row))  # langgraph-api names a stateless run by its thread here too


async def join_run_stream(follower: RunFollower, thread_id: str | None, run_id: str, join: JoinOptions) -> Stream:
    row, body = await follower.join_stream(
        thread_id,
        run_id,
        modes=join.modes,
        last_event_id=join.last_event_id,
        cancel_on_disconnect=join.cancel_on_disconnect,
    )
    return sse_response(body, run_location(row, stateless=thread_id is None))


JOIN_DEPENDENCIES = {"join": Provide(provide_join_options, sync_to_thread=False)}
Join = NamedDependency[JoinOptions]


class ThreadRunController(Controller):
    """Runs on a thread."""

    path = "/threads/{thread_id:str}/runs"
    tags = ["Thread Runs"]
    dependencies = JOIN_DEPENDENCIES

    @post("/", operation_id="create_run_threads__thread_id__runs_post", status_code=HTTP_200_OK, middleware=INTAKE)
    async def create(
        self, run_service: Runs, thread_id: FromPath[str], data: JSONBody[RunCreateStateful]
    ) -> Response[Run]:
        return await create_run(run_service, thread_id, data)

    @post(
        "/stream",
        operation_id="stream_run_threads__thread_id__runs_stream_post",
        status_code=HTTP_200_OK,
        middleware=INTAKE,
    )
    async def stream(
        self, run_follower: Follower, thread_id: FromPath[str], data: JSONBody[RunCreateStateful]
    ) -> Stream:
        return await stream_run(run_follower, thread_id, data)

    @post(
        "/wait", operation_id="wait_run_threads__thread_id__runs_wait_post", status_code=HTTP_200_OK, middleware=INTAKE
    )
    async def wait(self, run_follower: Follower, thread_id: FromPath[str], data: JSONBody[RunCreateStateful]) -> Stream:
        return await wait_run(run_follower, thread_id, data)

    @get("/", operation_id="list_runs_threads__thread_id__runs_get")
    async def list_runs(
        self,
        run_service: Runs,
        thread_id: FromPath[str],
        limit: PageLimit = 10,
        offset: PageOffset = 0,
        status: FromQuery[RunStatus | None] = None,
        select: FromQuery[list[RunField] | None] = None,
    ) -> list[Any]:
        runs = await run_service.list_runs(thread_id, limit=limit, offset=offset, status=status)
        return [project(run, select) for run in runs]

    @get("/{run_id:str}", operation_id="get_run_threads__thread_id__runs__run_id__get")
    async def get_run(self, run_service: Runs, thread_id: FromPath[str], run_id: FromPath[str]) -> Run:
        return to_schema(await run_service.get_row(thread_id, run_id), Run)

    @delete(
        "/{run_id:str}",
        operation_id="delete_run_threads__thread_id__runs__run_id__delete",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def delete_run(self, run_service: Runs, thread_id: FromPath[str], run_id: FromPath[str]) -> None:
        await run_service.delete(thread_id, run_id)

    @get("/{run_id:str}/join", operation_id="join_run_threads__thread_id__runs__run_id__join_get")
    async def join(
        self,
        run_follower: Follower,
        thread_id: FromPath[str],
        run_id: FromPath[str],
        cancel_on_disconnect: FromQuery[bool] = False,
    ) -> Stream:
        row, body = await run_follower.join(thread_id, run_id, cancel_on_disconnect=cancel_on_disconnect)
        return json_stream(body, run_location(row))

    @get("/{run_id:str}/stream", operation_id="join_run_stream_threads__thread_id__runs__run_id__stream_get")
    async def join_stream(
        self, run_follower: Follower, thread_id: FromPath[str], run_id: FromPath[str], join: Join
    ) -> Stream:
        return await join_run_stream(run_follower, thread_id, run_id, join)

    @post("/{run_id:str}/cancel", operation_id="cancel_run_threads__thread_id__runs__run_id__cancel_post")
    async def cancel(
        self,
        run_service: Runs,
        thread_id: FromPath[str],
        run_id: FromPath[str],
        wait: FromQuery[bool] = False,
        action: FromQuery[CancelAction] = "interrupt",
    ) -> Response[Run]:
        run = await run_service.cancel(thread_id, run_id, action=action, wait=wait)
        location = f"/threads/{run.thread_id}/runs/{run.run_id}"
        headers = {"Location": f"{location}/join", "Content-Location": location} if wait else {}
        return Response(run, status_code=HTTP_200_OK if wait else HTTP_202_ACCEPTED, headers=headers)


class RunController(Controller):
    """Stateless runs: each on a throwaway thread, deleted afterwards unless `on_completion="keep"`."""

    path = "/runs"
    tags = ["Stateless Runs"]
    dependencies = JOIN_DEPENDENCIES

    @post("/", operation_id="create_run_runs_post", status_code=HTTP_200_OK, middleware=INTAKE)
    async def create(self, run_service: Runs, data: JSONBody[RunCreateStateless]) -> Response[Run]:
        return await create_run(run_service, None, data)

    @post("/stream", operation_id="stream_run_stateless_runs_stream_post", status_code=HTTP_200_OK, middleware=INTAKE)
    async def stream(self, run_follower: Follower, data: JSONBody[RunCreateStateless]) -> Stream:
        return await stream_run(run_follower, None, data)

    @post("/wait", operation_id="wait_run_stateless_runs_wait_post", status_code=HTTP_200_OK, middleware=INTAKE)
    async def wait(self, run_follower: Follower, data: JSONBody[RunCreateStateless]) -> Stream:
        return await wait_run(run_follower, None, data)

    @post("/batch", operation_id="create_run_batch_runs_batch_post", status_code=HTTP_200_OK, middleware=INTAKE)
    async def batch(self, state: State, run_service: Runs, data: JSONBody[list[RunCreateStateless]]) -> list[Run]:
        limit = state.settings.runs_batch_max
        if len(data) > limit:
            raise UnprocessableError(
                f"A batch holds at most {limit} runs (got {len(data)}); send the rest in further batches"
            )
        return [to_schema(row, Run) for row in await run_service.create_batch(data)]

    @post("/cancel", operation_id="cancel_runs_runs_cancel_post", status_code=HTTP_204_NO_CONTENT)
    async def cancel_many(
        self, run_service: Runs, data: JSONBody[RunsCancel], action: FromQuery[CancelAction] = "interrupt"
    ) -> None:
        await run_service.cancel_many(data, action=action)

    @get("/{run_id:str}/stream", operation_id="join_run_stream_runs__run_id__stream_get")
    async def join_stream(self, run_follower: Follower, run_id: FromPath[str], join: Join) -> Stream:
        return await join_run_stream(run_follower, None, run_id, join)
