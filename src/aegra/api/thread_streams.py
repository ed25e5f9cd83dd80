"""Thread streams: the v3 protocol (`POST /threads/{id}/commands`, `POST /threads/{id}/stream/events` as SSE, a
WebSocket at the same path) and the thread join stream (`GET /threads/{id}/stream`), as langgraph-api serves them
to `client.threads.stream(...)` and `client.threads.join_stream(...)`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, Response, WebSocket, get, post, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, FromQuery, HeaderParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_400_BAD_REQUEST

from aegra import serde
from aegra.api.dependencies import Runs, authorizer_of
from aegra.errors import ApiError, BadRequestError
from aegra.runs import sse
from aegra.runs.intake import RunIntakeMiddleware
from aegra.runs.thread_commands import ThreadCommands, error, malformed
from aegra.runs.thread_events import StreamFilter, ThreadRuns
from aegra.runs.thread_join import ThreadJoin, parse_thread_stream_modes

logger = structlog.get_logger(__name__)

LastEventId = Annotated[str | None, HeaderParameter(name="Last-Event-ID")]


def thread_runs(state: State, connection: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> ThreadRuns:
    return ThreadRuns(
        database=state.database,
        registry=state.registry,
        broker=state.run_broker,
        pool=state.run_workers,
        auth=authorizer_of(connection),
    )


def decode_json(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise BadRequestError("Invalid JSON body") from None


def protocol_frames(events: AsyncGenerator[dict[str, Any] | None, None]) -> AsyncIterator[bytes]:
    """Protocol events as SSE: `event: <method>`, `id: <seq>`."""

    async def body() -> AsyncIterator[bytes]:
        async with aclosing(events):  # a client that leaves stops following the thread at once
            async for event in events:
                if event is None:
                    yield sse.HEARTBEAT
                else:
                    yield sse.encode_event(event["method"], serde.dumps(event), str(event["seq"]))

    return body()


def event_stream(body: AsyncIterator[bytes]) -> Stream:
    return Stream(body, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)


class ThreadStreamController(Controller):
    """Thread-centric streaming."""

    path = "/threads/{thread_id:str}"
    tags = ["Thread Streams"]

    @post(
        "/commands",
        operation_id="thread_command_threads__thread_id__commands_post",
        status_code=HTTP_200_OK,
        middleware=[RunIntakeMiddleware],  # `run.start` creates a run (see `aegra.runs.intake`)
    )
    async def command(
        self, request: Request[Any, Any, Any], run_service: Runs, thread_id: FromPath[str]
    ) -> Response[Any]:
        """One protocol command (`run.start`, `input.respond`): a result, or an error object."""
        payload = decode_json(await request.body())
        problem = malformed(payload)
        if problem is not None:
            return Response(problem, status_code=HTTP_400_BAD_REQUEST)
        return Response(await ThreadCommands(run_service, thread_id).handle(payload))

    @post("/stream/events", operation_id="thread_events_threads__thread_id__stream_events_post", status_code=200)
    async def events(self, request: Request[Any, Any, Any], state: State, thread_id: FromPath[str]) -> Stream:
        """The thread's protocol events the body's filter asks for, its history (after `since`) first."""
        wanted = StreamFilter.parse(decode_json(await request.body()))
        runs = thread_runs(state, request)
        parsed = await runs.readable_thread(thread_id)
        return event_stream(protocol_frames(runs.protocol_events(parsed, wanted)))

    @get("/stream", operation_id="join_thread_stream_threads__thread_id__stream_get")
    async def join(
        self,
        request: Request[Any, Any, Any],
        state: State,
        thread_id: FromPath[str],
        *,
        last_event_id: LastEventId = None,
        stream_mode: FromQuery[list[str] | None] = None,
        stream_modes: FromQuery[str | None] = None,
    ) -> Stream:
        """The events of the thread's runs while the client is connected, resumable with `Last-Event-ID`."""
        modes = parse_thread_stream_modes([*(stream_mode or []), *([stream_modes] if stream_modes else [])])
        runs = thread_runs(state, request)
        joined = ThreadJoin(runs, await runs.readable_thread(thread_id), modes)
        start = await joined.start(last_event_id)
        return event_stream(joined.frames(start))

    @websocket("/stream/events")
    async def socket(self, socket: WebSocket[Any, Any, Any], state: State, thread_id: FromPath[str]) -> None:
        """Commands in, events out: `subscription.subscribe` starts a filtered feed, the rest as `/commands`."""
        runs = thread_runs(state, socket)
        try:
            # The JS SDK opens its socket before the `run.start` that creates the thread.
            parsed = await runs.readable_thread(thread_id, may_be_missing=True)
        except ApiError as exc:
            await socket.close(code=4404 if exc.status_code == 404 else 4400, reason=str(exc))
            return
        await socket.accept()
        session = SocketSession(socket, runs, parsed, raw_thread_id=thread_id)
        try:
            await session.serve()
        finally:
            await session.close()


class SocketSession:
    """One WebSocket: its feeds (one per subscription) and the commands it sends."""

    def __init__(
        self, socket: WebSocket[Any, Any, Any], runs: ThreadRuns, thread_id: uuid.UUID, *, raw_thread_id: str
    ) -> None:
        self.socket = socket
        self.runs = runs
        self.thread_id = thread_id
        self.raw_thread_id = raw_thread_id
        self.feeds: dict[str, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()

    async def serve(self) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                raw = await self.socket.receive_data(mode="text")
                await self.send(await self.answer(raw))

    async def answer(self, raw: str | bytes) -> dict[str, Any]:
        try:
            payload = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return error(None, "invalid_argument", "Protocol commands must be valid JSON.")
        problem = malformed(payload)
        if problem is not None:
            return problem
        method, params = payload["method"], payload.get("params")
        if method == "subscription.subscribe":
            return self.subscribe(payload["id"], params)
        if method == "subscription.unsubscribe":
            feed = self.feeds.pop(str((params or {}).get("subscription_id")), None)
            if feed is not None:
                feed.cancel()
            return {"type": "success", "id": payload["id"], "result": {}}
        try:
            async with self.runs.service() as run_service:
                return await ThreadCommands(run_service, self.raw_thread_id).handle(payload)
        except ApiError as exc:
            return error(payload["id"], "invalid_argument", str(exc))

    def subscribe(self, command_id: int, params: Any) -> dict[str, Any]:
        try:
            wanted = StreamFilter.parse(params)
        except BadRequestError as exc:
            return error(command_id, "invalid_argument", str(exc))
        subscription_id = f"sub-{len(self.feeds) + 1}"
        self.feeds[subscription_id] = asyncio.create_task(self.feed(wanted), name=f"thread-feed-{subscription_id}")
        return {"type": "success", "id": command_id, "result": {"subscription_id": subscription_id}}

    async def feed(self, wanted: StreamFilter) -> None:
        try:
            async with aclosing(self.runs.protocol_events(self.thread_id, wanted)) as events:
                async for event in events:
                    if event is not None:
                        await self.send(event)
        except (WebSocketDisconnect, RuntimeError) as exc:
            logger.debug("thread stream socket closed", error=str(exc))

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.socket.send_data(serde.dumps(message).decode(), mode="text")

    async def close(self) -> None:
        for feed in self.feeds.values():
            feed.cancel()
        await asyncio.gather(*self.feeds.values(), return_exceptions=True)
