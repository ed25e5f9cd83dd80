"""`/threads/{thread_id}/runs` and the stateless `/runs`: create, stream, wait, join, cancel, list, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from aegra.api.dependencies import provide_run_service
from aegra.errors import UnprocessableError
from aegra.runs import sse
from aegra.runs.service import RunService, run_location, to_schema
from aegra.schemas.common import INT64_MAX
from aegra.schemas.runs import (
    CancelAction,
    Run,
    RunCreateStateful,
    RunCreateStateless,
    RunField,
    RunsCancel,
    RunStatus,
    StreamMode,
)
from aegra.services.serialization import project

LastEventId = Annotated[str | None, HeaderParameter(name="Last-Event-ID")]
PageLimit = Annotated[int, QueryParameter(ge=1, le=1000)]
PageOffset = Annotated[int, QueryParameter(ge=0, le=INT64_MAX)]
JSON_MEDIA_TYPE = "application/json"


def parse_stream_modes(raw: list[str] | None) -> list[str] | None:
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


class ThreadRunController(Controller):
    """Runs on a thread."""

    path = "/threads/{thread_id:str}/runs"
    tags = ["Thread Runs"]
    dependencies = {"run_service": Provide(provide_run_service, sync_to_thread=False)}

    @post("/", operation_id="create_run_threads__thread_id__runs_post", status_code=HTTP_200_OK)
    async def create(
        self, run_service: NamedDependency[RunService], thread_id: FromPath[str], data: JSONBody[RunCreateStateful]
    ) -> Response[Run]:
        row = await run_service.create(thread_id, data)
        return Response(to_schema(row), headers={"Content-Location": run_location(row)})

    @post("/stream", operation_id="stream_run_threads__thread_id__runs_stream_post", status_code=HTTP_200_OK)
    async def stream(
        self, run_service: NamedDependency[RunService], thread_id: FromPath[str], data: JSONBody[RunCreateStateful]
    ) -> Stream:
        followed = await run_service.create_and_follow(thread_id, data, events=True)
        body = run_service.sse_body(
            followed.subscription, resumable=data.stream_resumable, cancel_on_disconnect=data.on_disconnect == "cancel"
        )
        return sse_response(body, run_location(followed.row))

    @post("/wait", operation_id="wait_run_threads__thread_id__runs_wait_post", status_code=HTTP_200_OK)
    async def wait(
        self, run_service: NamedDependency[RunService], thread_id: FromPath[str], data: JSONBody[RunCreateStateful]
    ) -> Stream:
        followed = await run_service.create_and_follow(thread_id, data, events=False)
        body = run_service.wait_body(followed.subscription, cancel_on_disconnect=data.on_disconnect == "cancel")
        return json_stream(body, run_location(followed.row))

    @get("/", operation_id="list_runs_threads__thread_id__runs_get")
    async def list_runs(
        self,
        run_service: NamedDependency[RunService],
        thread_id: FromPath[str],
        limit: PageLimit = 10,
        offset: PageOffset = 0,
        status: FromQuery[RunStatus | None] = None,
        select: FromQuery[list[RunField] | None] = None,
    ) -> list[Any]:
        runs = await run_service.list_runs(thread_id, limit=limit, offset=offset, status=status)
        return [project(run, select) for run in runs]

    @get("/{run_id:str}", operation_id="get_run_threads__thread_id__runs__run_id__get")
    async def get_run(
        self, run_service: NamedDependency[RunService], thread_id: FromPath[str], run_id: FromPath[str]
    ) -> Run:
        return to_schema(await run_service.get_row(thread_id, run_id))

    @delete(
        "/{run_id:str}",
        operation_id="delete_run_threads__thread_id__runs__run_id__delete",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def delete_run(
        self, run_service: NamedDependency[RunService], thread_id: FromPath[str], run_id: FromPath[str]
    ) -> None:
        await run_service.delete(thread_id, run_id)

    @get("/{run_id:str}/join", operation_id="join_run_threads__thread_id__runs__run_id__join_get")
    async def join(
        self,
        run_service: NamedDependency[RunService],
        thread_id: FromPath[str],
        run_id: FromPath[str],
        cancel_on_disconnect: FromQuery[bool] = False,
    ) -> Stream:
        row, body = await run_service.join(thread_id, run_id, cancel_on_disconnect=cancel_on_disconnect)
        return json_stream(body, run_location(row))

    @get("/{run_id:str}/stream", operation_id="join_run_stream_threads__thread_id__runs__run_id__stream_get")
    async def join_stream(
        self,
        run_service: NamedDependency[RunService],
        thread_id: FromPath[str],
        run_id: FromPath[str],
        last_event_id: LastEventId = None,
        stream_mode: FromQuery[list[str] | None] = None,
        cancel_on_disconnect: FromQuery[bool] = False,
    ) -> Stream:
        row, body = await run_service.join_stream(
            thread_id,
            run_id,
            modes=parse_stream_modes(stream_mode),
            last_event_id=last_event_id,
            cancel_on_disconnect=cancel_on_disconnect,
        )
        return sse_response(body, run_location(row))

    @post("/{run_id:str}/cancel", operation_id="cancel_run_threads__thread_id__runs__run_id__cancel_post")
    async def cancel(
        self,
        run_service: NamedDependency[RunService],
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
    dependencies = {"run_service": Provide(provide_run_service, sync_to_thread=False)}

    @post("/", operation_id="create_run_runs_post", status_code=HTTP_200_OK)
    async def create(
        self, run_service: NamedDependency[RunService], data: JSONBody[RunCreateStateless]
    ) -> Response[Run]:
        row = await run_service.create(None, data)
        return Response(to_schema(row), headers={"Content-Location": run_location(row, stateless=True)})

    @post("/stream", operation_id="stream_run_stateless_runs_stream_post", status_code=HTTP_200_OK)
    async def stream(self, run_service: NamedDependency[RunService], data: JSONBody[RunCreateStateless]) -> Stream:
        followed = await run_service.create_and_follow(None, data, events=True)
        body = run_service.sse_body(
            followed.subscription, resumable=data.stream_resumable, cancel_on_disconnect=data.on_disconnect == "cancel"
        )
        return sse_response(body, run_location(followed.row, stateless=True))

    @post("/wait", operation_id="wait_run_stateless_runs_wait_post", status_code=HTTP_200_OK)
    async def wait(self, run_service: NamedDependency[RunService], data: JSONBody[RunCreateStateless]) -> Stream:
        followed = await run_service.create_and_follow(None, data, events=False)
        body = run_service.wait_body(followed.subscription, cancel_on_disconnect=data.on_disconnect == "cancel")
        return json_stream(body, run_location(followed.row))

    @post("/batch", operation_id="create_run_batch_runs_batch_post", status_code=HTTP_200_OK)
    async def batch(
        self, state: State, run_service: NamedDependency[RunService], data: JSONBody[list[RunCreateStateless]]
    ) -> list[Run]:
        limit = state.settings.runs_batch_max
        if len(data) > limit:
            raise UnprocessableError(
                f"A batch holds at most {limit} runs (got {len(data)}); send the rest in further batches"
            )
        return [to_schema(row) for row in await run_service.create_batch(data)]

    @post("/cancel", operation_id="cancel_runs_runs_cancel_post", status_code=HTTP_204_NO_CONTENT)
    async def cancel_many(
        self,
        run_service: NamedDependency[RunService],
        data: JSONBody[RunsCancel],
        action: FromQuery[CancelAction] = "interrupt",
    ) -> None:
        await run_service.cancel_many(data, action=action)

    @get("/{run_id:str}/stream", operation_id="join_run_stream_runs__run_id__stream_get")
    async def join_stream(
        self,
        run_service: NamedDependency[RunService],
        run_id: FromPath[str],
        last_event_id: LastEventId = None,
        stream_mode: FromQuery[list[str] | None] = None,
        cancel_on_disconnect: FromQuery[bool] = False,
    ) -> Stream:
        row, body = await run_service.join_stream(
            None,
            run_id,
            modes=parse_stream_modes(stream_mode),
            last_event_id=last_event_id,
            cancel_on_disconnect=cancel_on_disconnect,
        )
        return sse_response(body, run_location(row, stateless=True))
