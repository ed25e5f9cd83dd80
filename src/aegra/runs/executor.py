"""Executes one claimed run: builds its graph, drives `graph.astream` (or `astream_events` for the `events`
mode), turns every chunk into the SSE events langgraph-api sends, and records how the run ended on the run row,
its thread and for everyone waiting on it. A run's second or later attempt (its process died, or shut down while
it ran) resumes from the last checkpoint the run wrote, when it wrote one."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import langgraph.version
import structlog
from langchain_core.messages import BaseMessage, BaseMessageChunk, message_chunk_to_message
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot
from opentelemetry.trace import Span, Tracer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from aegra import __version__, serde
from aegra.auth.user import bind_run_user
from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.db.models import utcnow
from aegra.graphs.registry import GraphRegistry
from aegra.graphs.snapshots import checkpoint_from_config, command_from_json
from aegra.observability.metrics import Metrics
from aegra.observability.tracing import RunSpanCallback
from aegra.runs import queue, thread_sync
from aegra.runs.broker import RunBroker, RunChannel, RunOutcome
from aegra.runs.webhooks import WebhookSender, run_payload

logger = structlog.get_logger(__name__)

Ending = Literal["success", "error", "timeout", "interrupted", "rollback"]
CancelAction = Literal["interrupt", "rollback", "handback", "lost"]

# Who wins when a run is asked to stop twice: deleting it beats keeping it, a client's cancel beats a shutdown's
# hand-back (`handback`), which beats noticing the run was reaped from under us (`lost`).
CANCEL_PRIORITY: Final[dict[str, int]] = {"lost": 0, "handback": 1, "interrupt": 2, "rollback": 3}
# Stops that leave the run to another attempt instead of ending it.
HAND_BACKS: Final = frozenset({"handback", "lost"})

# A new attempt numbers its events past the previous attempts' stored ones, leaving room for events the previous
# process sent to its clients but had not stored yet: a client resuming from any of those ids misses nothing.
ATTEMPT_SEQ_GAP: Final = 1_000_000

# The keys that pin a run to a given checkpoint; a resumed attempt continues from the latest one instead.
CHECKPOINT_KEYS: Final = ("checkpoint_id", "checkpoint_ns", "checkpoint_map")

HIDDEN_TAG: Final = "langsmith:hidden"
INTERRUPT_KEY: Final = "__interrupt__"

DELETE_RUN_CHECKPOINT_WRITES: Final = """
DELETE FROM checkpoint_writes AS w
USING checkpoints AS c
WHERE c.thread_id = %(thread_id)s AND c.metadata->>'run_id' = %(run_id)s
  AND w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id
"""
DELETE_RUN_CHECKPOINTS: Final = """
DELETE FROM checkpoints WHERE thread_id = %(thread_id)s AND metadata->>'run_id' = %(run_id)s
"""


@dataclass(slots=True)
class RunHandle:
    """A run executing in this process; `cancel` asks it to stop (see CANCEL_PRIORITY).

    The task is cancelled at most once, and only while the graph runs: a cancel that arrives before it starts is
    honoured when it does, and one that arrives while the ending is being recorded changes nothing.
    """

    run_id: uuid.UUID
    task: asyncio.Task[None] | None = None
    phase: Literal["pending", "streaming", "finishing"] = "pending"
    cancel_action: str | None = None

    def cancel(self, action: str) -> None:
        first = self.cancel_action is None
        if first or CANCEL_PRIORITY.get(action, 0) > CANCEL_PRIORITY.get(self.cancel_action or "", 0):
            self.cancel_action = action
        if first and self.phase == "streaming" and self.task is not None:
            self.task.cancel()

    @property
    def handing_back(self) -> bool:
        """The run stops here without ending: another attempt continues it."""
        return self.cancel_action in HAND_BACKS


def error_payload(exc: BaseException) -> dict[str, str]:
    """How a failure appears in `error` events, wait bodies and the thread: class name and message."""
    return {"error": type(exc).__name__, "message": str(exc)}


def _pairs_as_tuples(command: dict[str, Any]) -> dict[str, Any]:
    """JSON has no tuples: an `update` given as `[[key, value], ...]` is a list of channel writes."""
    update = command.get("update")
    if isinstance(update, list) and all(isinstance(pair, list) and len(pair) == 2 for pair in update):
        return {**command, "update": [tuple(pair) for pair in update]}
    return command


def _event_name(mode: str, namespace: tuple[str, ...]) -> str:
    return "|".join((mode, *namespace)) if namespace else mode


def _debug_checkpoint(payload: dict[str, Any]) -> dict[str, Any]:
    """langgraph-api adds `checkpoint`/`parent_checkpoint` objects to debug checkpoints, and task checkpoints."""
    tasks = []
    for task in payload.get("tasks") or []:
        state = task.get("state")
        if isinstance(state, Mapping) and state.get("configurable"):
            task = {key: value for key, value in task.items() if key != "state"} | {"checkpoint": state["configurable"]}
        tasks.append(task)
    return {
        **payload,
        "checkpoint": checkpoint_from_config(payload.get("config")),
        "parent_checkpoint": checkpoint_from_config(payload.get("parent_config")),
        "tasks": tasks,
    }


@dataclass(slots=True)
class MessageAccumulator:
    """The `messages` mode: `messages/metadata` once per message, then the message so far (`messages/partial`)
    or whole (`messages/complete`)."""

    messages: dict[str, Any] = field(default_factory=dict)

    def events(self, message: Any, metadata: Any) -> list[tuple[str, Any]]:
        if not isinstance(message, BaseMessage):
            return [("messages/complete", [message])]
        key = message.id or f"message-{len(self.messages)}"
        out: list[tuple[str, Any]] = []
        known = self.messages.get(key)
        if known is None:
            self.messages[key] = message
            out.append(("messages/metadata", {key: {"metadata": metadata}}))
        elif isinstance(known, BaseMessageChunk) and isinstance(message, BaseMessageChunk):
            self.messages[key] = known + message
        else:
            self.messages[key] = message
        if isinstance(message, BaseMessageChunk):
            return [*out, ("messages/partial", [message_chunk_to_message(self.messages[key])])]
        return [*out, ("messages/complete", [self.messages[key]])]


@dataclass(slots=True)
class RunPlan:
    """The arguments of one execution, read from the run row's kwargs."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    graph_id: str
    attempt: int
    input: Any
    config: dict[str, Any]
    context: dict[str, Any]
    requested: frozenset[str]
    subgraphs: bool
    temporary: bool
    resumable: bool
    astream_kwargs: dict[str, Any]

    @classmethod
    def from_row(cls, row: RunRow) -> RunPlan:
        kwargs = row.kwargs
        config = copy.deepcopy(kwargs.get("config") or {})
        config["metadata"] = {
            **(config.get("metadata") or {}),
            "run_attempt": row.attempt,
            "langgraph_version": langgraph.version.__version__,
            "aegra_version": __version__,
        }
        if row.attempt == 1:
            config["run_id"] = row.run_id
        command = kwargs.get("command")
        temporary = bool(kwargs.get("temporary"))
        astream_kwargs: dict[str, Any] = {}
        if not temporary:  # throwaway threads run without a checkpointer, where durability means nothing
            astream_kwargs["durability"] = kwargs.get("durability") or "async"
        for key in ("interrupt_before", "interrupt_after"):
            if kwargs.get(key) is not None:
                astream_kwargs[key] = kwargs[key]
        return cls(
            run_id=row.run_id,
            thread_id=row.thread_id,
            graph_id=config["configurable"]["graph_id"],
            attempt=row.attempt,
            input=command_from_json(_pairs_as_tuples(command)) if command else kwargs.get("input"),
            config=config,
            context=dict(kwargs.get("context") or {}),
            requested=frozenset(kwargs.get("stream_mode") or ["values"]),
            subgraphs=bool(kwargs.get("subgraphs")),
            temporary=temporary,
            resumable=bool(kwargs.get("resumable")),
            astream_kwargs=astream_kwargs,
        )

    def resume_from_checkpoint(self) -> None:
        """Continue from the thread's latest checkpoint (the run's own) instead of starting over from the input."""
        self.input = None
        configurable = self.config.get("configurable") or {}
        for key in CHECKPOINT_KEYS:
            configurable.pop(key, None)

    @property
    def graph_modes(self) -> list[str]:
        """Modes asked of the graph: the requested ones (`messages-tuple` is `messages`), plus `values` and
        `updates`, which the run's result is made of."""
        modes = {"values", "updates"} | (self.requested - {"events", "messages-tuple"})
        if "messages-tuple" in self.requested:
            modes.add("messages")
        return sorted(modes)


@dataclass(slots=True)
class Emitter:
    """Publishes encoded events to the run's subscribers (and to `run_events` when the run keeps them)."""

    broker: RunBroker
    channel: RunChannel

    def emit(self, event: str, payload: Any) -> None:
        self.broker.publish(self.channel, event, serde.dumps(payload))


@dataclass(slots=True)
class RunResult:
    """What the run produced so far: the latest root `values` and any interrupts it stopped at."""

    values: Any = None
    interrupts: list[Any] = field(default_factory=list)
    error: dict[str, str] | None = None


class ChunkTranslator:
    """Turns `astream` chunks into langgraph-api's SSE events (names, namespaces and payloads)."""

    def __init__(self, plan: RunPlan, emitter: Emitter, result: RunResult) -> None:
        self.plan = plan
        self.emitter = emitter
        self.result = result
        self.messages = MessageAccumulator()

    def chunk(self, item: Any) -> None:
        if self.plan.subgraphs:
            namespace, mode, data = item
        else:
            (mode, data), namespace = item, ()
        namespace = tuple(namespace)
        requested = self.plan.requested
        if mode == "values" and not namespace:
            self._remember_values(data)
        if mode == "messages":
            self._messages(namespace, data)
            return
        if mode == "debug" and isinstance(data, dict) and data.get("type") == "checkpoint":
            data = {**data, "payload": _debug_checkpoint(data["payload"])}
        if mode in requested:
            self.emitter.emit(_event_name(mode, namespace), data)

    def event(self, event: dict[str, Any]) -> None:
        """One `astream_events` v2 event: the root graph's stream chunks, or an `events` event."""
        if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
            self.chunk(event["data"]["chunk"])
        elif HIDDEN_TAG not in (event.get("tags") or ()):
            self.emitter.emit("events", event)

    def _remember_values(self, data: Any) -> None:
        if isinstance(data, dict) and INTERRUPT_KEY in data:
            self.result.interrupts.extend(data[INTERRUPT_KEY])
        else:
            self.result.values = data

    def _messages(self, namespace: tuple[str, ...], data: Any) -> None:
        if "messages-tuple" in self.plan.requested:
            self.emitter.emit(_event_name("messages", namespace), data)
        elif "messages" in self.plan.requested:
            message, metadata = data
            for name, payload in self.messages.events(message, metadata):
                self.emitter.emit(name, payload)


class RunExecutor:
    """Runs claimed runs to completion; one instance per process, shared by all worker slots."""

    def __init__(
        self,
        *,
        database: Database,
        registry: GraphRegistry,
        broker: RunBroker,
        worker_id: str,
        timeout_seconds: float,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.webhooks = webhooks
        self.database = database
        self.registry = registry
        self.broker = broker
        self.worker_id = worker_id
        self.timeout_seconds = timeout_seconds
        self.metrics = metrics
        self.tracer = tracer

    async def execute(self, row: RunRow, handle: RunHandle) -> None:
        """Run the graph, stream its events and record the ending; never raises except on shutdown."""
        plan = RunPlan.from_row(row)
        next_seq = 0
        if row.attempt > 1 and self.broker.store is not None:
            next_seq = await self.broker.store.last_seq(row.run_id) + 1 + ATTEMPT_SEQ_GAP
        # Events are kept unless the run's only follower is a client of this very process (stream, wait); a run
        # reserved for another process has its client there.
        keep_events = plan.resumable or row.reserved_for != self.worker_id
        followed_elsewhere = row.reserved_for not in (None, self.worker_id)
        channel = self.broker.start(
            row.run_id, keep_events=keep_events, followed_elsewhere=followed_elsewhere, next_seq=next_seq
        )
        emitter = Emitter(self.broker, channel)
        result = RunResult()
        snapshot: StateSnapshot | None = None
        structlog.contextvars.bind_contextvars(
            run_id=str(row.run_id), thread_id=str(row.thread_id), assistant_id=str(row.assistant_id)
        )
        emitter.emit("metadata", {"run_id": str(row.run_id), "attempt": row.attempt})
        handle.phase = "streaming"
        try:
            if handle.cancel_action is not None:
                raise asyncio.CancelledError
            if row.attempt > 1 and not plan.temporary and await self._checkpointed(plan):
                plan.resume_from_checkpoint()
                logger.info("resuming run from its last checkpoint", run_id=str(row.run_id), attempt=row.attempt)
            with self._span(plan) as span:
                if span is not None and self.tracer is not None:
                    plan.config["callbacks"] = [RunSpanCallback(self.tracer, span)]
                async with self.registry.get_graph(
                    plan.graph_id,
                    config=plan.config,
                    access_context="threads.create_run",
                    checkpointer=None if plan.temporary else self.database.checkpointer,
                    store=self.database.store,
                    context=plan.context,
                    user=bind_run_user(plan.config),
                ) as graph:
                    ending = await self._drive(graph, plan, emitter, result, handle)
                    handle.phase = "finishing"
                    if ending == "rollback" and not plan.temporary:
                        await self._delete_run_checkpoints(plan)
                    if not plan.temporary:
                        snapshot = await graph.aget_state({"configurable": {"thread_id": str(plan.thread_id)}})
        except asyncio.CancelledError:
            if handle.cancel_action is None:
                raise
            _uncancel()
            if handle.handing_back:
                await self._hand_back(plan, channel, handle)
                return
            ending = "rollback" if handle.cancel_action == "rollback" else "interrupted"
        except Exception as exc:  # noqa: BLE001 - graph factories and state reads may raise anything
            _log_failure("run failed outside the graph", plan.run_id, exc)
            result.error = error_payload(exc)
            ending = "error"
        handle.phase = "finishing"
        await self._finish(row, plan, ending, result, snapshot, channel, handle)

    async def _checkpointed(self, plan: RunPlan) -> bool:
        """Whether the thread's latest checkpoint is this run's: an earlier attempt got that far."""
        config = {"configurable": {"thread_id": str(plan.thread_id), "checkpoint_ns": ""}}
        saved = await self.database.checkpointer.aget_tuple(config)  # type: ignore[arg-type]
        return saved is not None and saved.metadata.get("run_id") == str(plan.run_id)

    async def _hand_back(self, plan: RunPlan, channel: RunChannel, handle: RunHandle) -> None:
        """Stop without ending the run: keep what it streamed, and let its followers here reconnect elsewhere."""
        try:
            await self.broker.flush(channel)
        except SQLAlchemyError as exc:
            logger.warning("could not store a handed-back run's events", run_id=str(plan.run_id), error=str(exc))
        self.broker.finish(plan.run_id, RunOutcome("pending", b""))
        logger.info("run handed back", run_id=str(plan.run_id), attempt=plan.attempt, reason=handle.cancel_action)

    @contextlib.contextmanager
    def _span(self, plan: RunPlan) -> Iterator[Span | None]:
        """The run's trace span (when tracing is on); the graph's own spans nest under it."""
        if self.tracer is None:
            yield None
            return
        attributes = {
            "aegra.run_id": str(plan.run_id),
            "aegra.thread_id": str(plan.thread_id),
            "aegra.graph_id": plan.graph_id,
            "aegra.attempt": plan.attempt,
        }
        with self.tracer.start_as_current_span(f"run {plan.graph_id}", attributes=attributes) as span:
            yield span

    async def _drive(
        self, graph: Pregel, plan: RunPlan, emitter: Emitter, result: RunResult, handle: RunHandle
    ) -> Ending:
        """Stream the graph until it ends, fails, times out or is cancelled."""
        translator = ChunkTranslator(plan, emitter, result)
        context = self._context_for(graph, plan.context)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                if "events" in plan.requested:
                    async for event in self._events(graph, plan, context):
                        translator.event(event)
                else:
                    async for item in self._chunks(graph, plan, context):
                        translator.chunk(item)
        except TimeoutError:
            message = f"Run timed out after {self.timeout_seconds:g} s (BG_JOB_TIMEOUT_SECS)"
            result.error = {"error": "TimeoutError", "message": message}
            return "timeout"
        except asyncio.CancelledError:
            if handle.cancel_action is None or handle.handing_back:
                raise
            _uncancel()
            return "rollback" if handle.cancel_action == "rollback" else "interrupted"
        except Exception as exc:  # noqa: BLE001 - a graph may raise anything; it becomes the run's error
            _log_failure("run failed", plan.run_id, exc)
            result.error = error_payload(exc)
            return "error"
        return "success"

    def _chunks(self, graph: Pregel, plan: RunPlan, context: Any) -> AsyncIterator[Any]:
        return graph.astream(
            plan.input,
            plan.config,  # type: ignore[arg-type]
            stream_mode=plan.graph_modes,  # type: ignore[arg-type]
            subgraphs=plan.subgraphs,
            context=context,
            **plan.astream_kwargs,
        )

    def _events(self, graph: Pregel, plan: RunPlan, context: Any) -> AsyncIterator[Any]:
        return graph.astream_events(
            plan.input,
            plan.config,  # type: ignore[arg-type]
            version="v2",
            stream_mode=plan.graph_modes,
            subgraphs=plan.subgraphs,
            context=context,
            **plan.astream_kwargs,
        )

    @staticmethod
    def _context_for(graph: Pregel, context: dict[str, Any]) -> Any:
        """Keep only the keys the graph's context schema declares (context mirrors `configurable`)."""
        if not context or graph.context_schema is None:
            return context or None
        properties = (graph.get_context_jsonschema() or {}).get("properties")
        if not properties:
            return context
        return {key: value for key, value in context.items() if key in properties}

    async def _delete_run_checkpoints(self, plan: RunPlan) -> None:
        """Rollback: forget every checkpoint (and pending write) the run made on its thread."""
        params = {"thread_id": str(plan.thread_id), "run_id": str(plan.run_id)}
        async with self.database.lg_pool.connection() as conn:
            await conn.execute(DELETE_RUN_CHECKPOINT_WRITES, params)
            await conn.execute(DELETE_RUN_CHECKPOINTS, params)

    async def _finish(
        self,
        row: RunRow,
        plan: RunPlan,
        ending: Ending,
        result: RunResult,
        snapshot: StateSnapshot | None,
        channel: RunChannel,
        handle: RunHandle,
    ) -> None:
        """Record the ending in the database first, then close the streams (so a client that asks about the run
        right after its stream ends already sees the final status), then call the run's webhook."""
        body = _result_body(ending, result, snapshot)
        recorded = False
        try:
            if result.error is not None and ending in ("error", "timeout"):
                Emitter(self.broker, channel).emit("error", result.error)
            await self.broker.flush(channel)
            recorded = await self._record(plan, ending, result, snapshot, body, handle)
        except SQLAlchemyError as exc:
            logger.error("could not record the end of a run", run_id=str(plan.run_id), error=str(exc))
        finally:
            self.broker.finish(plan.run_id, RunOutcome(ending, serde.dumps(body)))
            if self.metrics is not None:
                self.metrics.runs_finished.labels(ending).inc()
            logger.info("run finished", run_id=str(plan.run_id), status=ending, attempt=plan.attempt)
        webhook = row.kwargs.get("webhook")
        if recorded and webhook and self.webhooks is not None and ending != "rollback":
            values = None if ending in ("error", "timeout") else serde.to_jsonable(body)
            payload = run_payload(row, status=ending, values=values, error=result.error, ended_at=utcnow())
            self.webhooks.send(webhook, payload)

    async def _record(
        self,
        plan: RunPlan,
        ending: Ending,
        result: RunResult,
        snapshot: StateSnapshot | None,
        body: Any,
        handle: RunHandle,
    ) -> bool:
        """Store the ending on the run and its thread; False when the run was no longer this process's to end
        (reaped after a lost lease, or deleted with its thread)."""
        async with self.database.sessionmaker() as session:
            if ending == "rollback":
                held = await queue.delete_run_row(session, plan.run_id, origin=self.worker_id)
            else:
                output = None if ending in ("error", "timeout") else serde.to_jsonable(body)
                held = await queue.finish_run(
                    session, plan.run_id, ending, origin=self.worker_id, output=output, error=result.error
                )
            if not held:
                await session.rollback()
                await self._forget_deleted_thread(session, plan)
                logger.warning("run ended after it was taken away; ending not recorded", run_id=str(plan.run_id))
                return False
            if plan.temporary:
                await thread_sync.delete_thread(session, plan.thread_id)
            else:
                thread_error = result.error
                if ending == "interrupted":
                    thread_error = {
                        "error": "UserInterrupt",
                        "message": f"Run {plan.run_id} was cancelled (action={handle.cancel_action})",
                    }
                await thread_sync.record_run_end(
                    session, plan.thread_id, snapshot, error=thread_error, interrupted=ending == "interrupted"
                )
            await session.commit()
        return True

    async def _forget_deleted_thread(self, session: AsyncSession, plan: RunPlan) -> None:
        """The thread was deleted while the run executed: drop the checkpoints the run wrote after that."""
        if plan.temporary or await thread_sync.thread_exists(session, plan.thread_id):
            return
        await self.database.checkpointer.adelete_thread(str(plan.thread_id))


def _result_body(ending: Ending, result: RunResult, snapshot: StateSnapshot | None) -> Any:
    """What `wait`/`join` answer with: the final values, only the interrupts when the run stopped at one, or
    `{"__error__": ...}`."""
    if ending in ("error", "timeout"):
        return {"__error__": result.error}
    if ending == "rollback":
        return {}
    if ending == "success" and result.interrupts:
        return {INTERRUPT_KEY: result.interrupts}
    if result.values is not None:
        return result.values
    if snapshot is not None and snapshot.values:
        return snapshot.values
    return {}


def _log_failure(message: str, run_id: uuid.UUID, exc: BaseException) -> None:
    """Log with a plain-text traceback: rendering it richly (with locals) would stall the event loop."""
    trace = "".join(traceback.format_exception(exc))
    logger.error(message, run_id=str(run_id), error=f"{type(exc).__name__}: {exc}", exception=trace)


def _uncancel() -> None:
    """We handled a cancellation we asked for; let the task keep awaiting its cleanup."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
