"""A2A at `/a2a/{assistant_id}`: each assistant is an agent. The protocol layer is `a2a-sdk`'s JSON-RPC dispatcher
(A2A 1.0, and the v0.3 method names through its compat adapter); behind it, `RunRequestHandler` answers every method
with our run machinery: a message is a run on the thread its `contextId` names, a task is that run.

This module imports `a2a-sdk`; `aegra.interop.routes` imports it on the first A2A request only.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import structlog
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types import a2a_pb2 as a2a
from a2a.utils.constants import PROTOCOL_VERSION_1_0
from a2a.utils.errors import (
    ExtendedAgentCardNotConfiguredError,
    InvalidParamsError,
    InvalidRequestError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send
from starlette.requests import Request

from aegra import __version__
from aegra.db.models import Run as RunRow
from aegra.errors import ApiError, NotFoundError, UnprocessableError
from aegra.interop.a2a_tasks import (
    agent_message,
    agent_texts,
    context_thread_id,
    finished_task,
    parse_task_id,
    resume_value,
    run_input,
    run_task,
    task_id,
    user_history,
)
from aegra.interop.services import InteropServices, request_services
from aegra.runs import sse
from aegra.runs.broker import SubscriberLagging, Subscription
from aegra.schemas.runs import RunCommand, RunCreateStateful
from aegra.schemas.status import ThreadStatus

logger = structlog.get_logger(__name__)

ASSISTANT_KEY: Final = "aegra_assistant_id"
SCOPE_KEY: Final = "aegra_scope"
MODES: Final = ["text/plain", "application/json"]
VERSION_HEADER: Final = b"a2a-version"


class ScopeContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context, plus the ASGI scope (the caller, for our services) and the path's assistant."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state[SCOPE_KEY] = request.scope
        context.state[ASSISTANT_KEY] = request.path_params["assistant_id"]
        return context


@contextmanager
def a2a_errors(*, missing: type[Exception] = InvalidParamsError) -> Iterator[None]:
    """Our errors as A2A JSON-RPC errors: a missing resource is `missing`, bad input invalid params."""
    try:
        yield
    except NotFoundError as exc:
        raise missing(exc.detail) from exc
    except UnprocessableError as exc:
        raise InvalidParamsError(exc.detail) from exc
    except ApiError as exc:
        raise InvalidRequestError(exc.detail) from exc


def _user_message(message: a2a.Message, *, context_id: str, task: str) -> a2a.Message:
    """The client's message as the task's history holds it: with the task's ids (and a role, when it had none)."""
    echoed = a2a.Message()
    echoed.CopyFrom(message)
    echoed.context_id, echoed.task_id = context_id, task
    if not echoed.role:
        echoed.role = a2a.ROLE_USER
    return echoed


@dataclass(frozen=True, slots=True, kw_only=True)
class StartedRun:
    """A message's run, just queued, with this request's subscription to it and the message as the task saw it."""

    row: RunRow
    subscription: Subscription
    sent: a2a.Message


async def run_updates(subscription: Subscription) -> AsyncIterator[Any]:
    """The decoded `updates` events of a followed run until it ends. A reader that falls behind (or a run whose
    events this process does not hold) just stops getting progress: the outcome still ends the task."""
    while not subscription.channel.done.is_set():
        try:
            event = await subscription.next_event(sse.HEARTBEAT_SECONDS)
        except TimeoutError:
            continue
        except SubscriberLagging:
            return
        if event is None:
            return
        if event.mode == "updates":
            yield msgspec.json.decode(event.data)


class RunRequestHandler(RequestHandler):
    """A2A methods on our runs, for the caller the request authenticated (the REST API's auth and filters)."""

    @asynccontextmanager
    async def _services(self, context: ServerCallContext) -> AsyncIterator[InteropServices]:
        async with request_services(context.state[SCOPE_KEY]) as services:
            yield services

    async def _payload(
        self, services: InteropServices, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> tuple[str, RunCreateStateful]:
        """The run a message starts: on its context's thread, resuming it when the message answers the task that
        stopped at an interrupt (`input-required`), else with the message as new input."""
        if not params.HasField("message"):
            raise InvalidParamsError("Missing 'message' in params")
        message = params.message
        thread_id = context_thread_id(message)
        content = run_input(message)
        resume = message.task_id and await self._awaits_input(services, thread_id)
        if message.task_id:
            await self.on_get_task(a2a.GetTaskRequest(id=message.task_id), context)  # an unknown task is an error
        command = RunCommand(resume=resume_value(content)) if resume else None
        payload = RunCreateStateful(
            assistant_id=str(context.state[ASSISTANT_KEY]),
            input=None if command is not None else content,
            command=command,
            if_not_exists="create",
            metadata={"a2a_message_id": message.message_id} if message.message_id else None,
        )
        return thread_id, payload

    @staticmethod
    async def _awaits_input(services: InteropServices, thread_id: str) -> bool:
        try:
            thread = await services.threads.get(thread_id)
        except ApiError:  # not there yet (a new context) or not the caller's: the run decides
            return False
        return thread.status == ThreadStatus.INTERRUPTED

    @asynccontextmanager
    async def _started_run(
        self, params: a2a.SendMessageRequest, context: ServerCallContext, *, events: bool
    ) -> AsyncIterator[StartedRun]:
        """Queue the message's run and follow it (with its `updates` events, when `events`) for the block."""
        async with self._services(context) as services:
            thread_id, payload = await self._payload(services, params, context)
            if events:
                payload = msgspec.structs.replace(payload, stream_mode=["updates"])
            with a2a_errors():
                followed = await services.runs.create_and_follow(thread_id, payload, events=events)
            try:
                await services.runs.release_connection()
                row = followed.row
                sent = _user_message(
                    params.message, context_id=str(row.thread_id), task=task_id(row.thread_id, row.run_id)
                )
                yield StartedRun(row=row, subscription=followed.subscription, sent=sent)
            finally:
                services.runs.broker.unsubscribe(followed.subscription)

    async def on_message_send(self, params: a2a.SendMessageRequest, context: ServerCallContext) -> a2a.Task:
        async with self._started_run(params, context, events=False) as run:
            if params.configuration.return_immediately:
                return run_task(run.row, history=[run.sent])
            outcome = await run.subscription.wait_outcome(None)
        return finished_task(run.row, msgspec.json.decode(outcome.body), status=outcome.status, history=[run.sent])

    async def on_message_send_stream(
        self, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        async with self._started_run(params, context, events=True) as run:
            tid, cid = task_id(run.row.thread_id, run.row.run_id), str(run.row.thread_id)
            yield run_task(run.row, history=[run.sent])
            yield a2a.TaskStatusUpdateEvent(
                task_id=tid, context_id=cid, status=a2a.TaskStatus(state=a2a.TASK_STATE_WORKING)
            )
            async for update in run_updates(run.subscription):
                for text in agent_texts(update):
                    status = a2a.TaskStatus(
                        state=a2a.TASK_STATE_WORKING, message=agent_message(text, context_id=cid, task=tid)
                    )
                    yield a2a.TaskStatusUpdateEvent(task_id=tid, context_id=cid, status=status)
            outcome = await run.subscription.wait_outcome(None)
        task = finished_task(run.row, msgspec.json.decode(outcome.body), status=outcome.status)
        for artifact in task.artifacts:
            yield a2a.TaskArtifactUpdateEvent(task_id=tid, context_id=cid, artifact=artifact, last_chunk=True)
        yield a2a.TaskStatusUpdateEvent(task_id=tid, context_id=cid, status=task.status)

    async def on_get_task(self, params: a2a.GetTaskRequest, context: ServerCallContext) -> a2a.Task:
        thread_id, run_id = parse_task_id(params.id)
        async with self._services(context) as services:
            try:
                row = await services.runs.get_row(thread_id, run_id)
            except (NotFoundError, UnprocessableError):  # unknown, another caller's, or not an id we issue
                raise TaskNotFoundError(f"Task {params.id!r} not found") from None
        if row.assistant_id != await self._assistant_id(context):
            raise TaskNotFoundError(f"Task {params.id!r} not found")
        history = [] if params.HasField("history_length") and params.history_length == 0 else user_history(row)
        return run_task(row, history=history)

    async def _assistant_id(self, context: ServerCallContext) -> Any:
        async with self._services(context) as services:
            with a2a_errors():
                return services.assistants.resolve_id(str(context.state[ASSISTANT_KEY]))

    async def on_cancel_task(self, params: a2a.CancelTaskRequest, context: ServerCallContext) -> a2a.Task:
        await self.on_get_task(a2a.GetTaskRequest(id=params.id), context)
        thread_id, run_id = parse_task_id(params.id)
        async with self._services(context) as services:
            with a2a_errors(missing=TaskNotCancelableError):
                await services.runs.cancel(thread_id, run_id, action="interrupt", wait=True)
        return await self.on_get_task(a2a.GetTaskRequest(id=params.id), context)

    async def on_list_tasks(self, params: a2a.ListTasksRequest, context: ServerCallContext) -> a2a.ListTasksResponse:
        raise UnsupportedOperationError("ListTasks is not supported; get a task by its id")

    async def on_subscribe_to_task(
        self, params: a2a.SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        raise UnsupportedOperationError("SubscribeToTask is not supported")
        yield  # an async generator, as the interface declares

    async def _no_push_notifications(self, params: Any, context: ServerCallContext) -> Any:
        raise PushNotificationNotSupportedError

    on_create_task_push_notification_config = _no_push_notifications
    on_get_task_push_notification_config = _no_push_notifications
    on_list_task_push_notification_configs = _no_push_notifications
    on_delete_task_push_notification_config = _no_push_notifications

    async def on_get_extended_agent_card(
        self, params: a2a.GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> a2a.AgentCard:
        raise ExtendedAgentCardNotConfiguredError


def _base_url(scope: Scope) -> str:
    """Where the client reached this server (behind a proxy: the scheme it forwarded)."""
    headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers") or ()}
    scheme = headers.get(b"x-forwarded-proto") or scope.get("scheme", "http")
    server = scope.get("server") or ("localhost", 80)
    host = headers.get(b"host") or f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}{scope.get('root_path', '')}"


async def agent_card(scope: Scope, raw_assistant_id: str) -> dict[str, Any]:
    """The agent card of one assistant, as the caller may see it (404 when they may not)."""
    async with request_services(scope) as services:
        assistant = await services.assistants.get(raw_assistant_id)
    url = f"{_base_url(scope)}/a2a/{assistant.assistant_id}"
    description = assistant.description or f"{assistant.name} assistant"
    card = a2a.AgentCard(
        name=assistant.name,
        description=description,
        supported_interfaces=[
            a2a.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=version)
            for version in ("1.0", "0.3")
        ],
        version=__version__,
        capabilities=a2a.AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=MODES,
        default_output_modes=MODES,
        skills=[
            a2a.AgentSkill(
                id=f"{assistant.assistant_id}-main",
                name=f"{assistant.name} Capabilities",
                description=description,
                tags=["assistant", "langgraph"],
                input_modes=MODES,
                output_modes=MODES,
            )
        ],
    )
    return agent_card_to_dict(card)


def replaying(app: ASGIApp, body: bytes) -> ASGIApp:
    """`app` with the request body Litestar already read (its `before_request` hook) handed to it again."""

    async def replay(scope: Scope, receive: Receive, send: Send) -> None:
        delivered = False

        async def replayed() -> ReceiveMessage:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replayed, send)

    return replay


def with_version(scope: Scope, body: bytes) -> Scope:
    """A 1.0 method name without an `A2A-Version` header is taken as 1.0, as langgraph-api takes it (the SDK would
    read a missing header as 0.3 and refuse the method)."""
    headers = scope.get("headers") or []
    if any(name.lower() == VERSION_HEADER for name, _ in headers):
        return scope
    try:
        method = msgspec.json.decode(body, type=_Method).method
    except (msgspec.DecodeError, msgspec.ValidationError):
        return scope
    if method not in JsonRpcDispatcher.METHOD_TO_MODEL:
        return scope
    scope["headers"] = [*headers, (VERSION_HEADER, PROTOCOL_VERSION_1_0.encode())]  # this request's own scope
    return scope


class _Method(msgspec.Struct):
    method: str | None = None


class A2AEndpoint:
    """The JSON-RPC endpoint of every assistant: the SDK's dispatcher over `RunRequestHandler`."""

    def __init__(self) -> None:
        self.dispatcher = JsonRpcDispatcher(
            RunRequestHandler(), context_builder=ScopeContextBuilder(), enable_v0_3_compat=True
        )

    def app(self, body: bytes) -> ASGIApp:
        """The ASGI app answering one request whose `body` has been read already."""

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            await replaying(self, body)(with_version(scope, body), receive, send)

        return answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)  # type: ignore[arg-type]  # Litestar's ASGI types vs Starlette's: the same dicts
        response = await self.dispatcher.handle_requests(request)
        await response(scope, receive, send)  # type: ignore[arg-type]  # Starlette's ASGI types vs Litestar's: the same dicts
