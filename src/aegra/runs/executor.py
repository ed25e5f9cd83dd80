"""Executes one claimed run: builds its graph, drives `graph.astream` (or `astream_events` for the `events`
mode), publishes the events `translate.py` makes of every chunk, and records how the run ended on the run row,
its thread and for everyone waiting on it. A run's second or later attempt (its process died, or shut down while
it ran) resumes from the last checkpoint the run wrote, when it wrote one."""

from __future__ import annotations

import asyncio
import contextlib
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import structlog
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from aegra import serde
from aegra.adapters.langgraph_checkpoint import delete_run_checkpoints
from aegra.auth.user import bind_run_user
from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.db.models import utcnow
from aegra.graphs.registry import GraphRegistry
from aegra.observability.metrics import Metrics
from aegra.runs import endings, thread_sync
from aegra.runs.broker import RunBroker, RunChannel, RunOutcome
from aegra.runs.events import FIRST_SEQ, run_metadata
from aegra.runs.intake import RunIntake
from aegra.runs.outbox import WebhookOutbox, enqueue_delivery
from aegra.runs.plan import RunPlan
from aegra.runs.translate import ROLLBACK, ChunkTranslator, Ending, RunResult, result_body
from aegra.runs.webhooks import WebhookSender, run_payload
from aegra.schemas.status import FAILED, RunStatus

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

logger = structlog.get_logger(__name__)

AnyGraph = Pregel[Any, Any, Any, Any]

# Who wins when a run is asked to stop twice: deleting it beats keeping it, a client's cancel beats a shutdown's
# hand-back (`handback`), which beats noticing the run was reaped from under us (`lost`).
CANCEL_PRIORITY: Final[dict[str, int]] = {"lost": 0, "handback": 1, "interrupt": 2, "rollback": 3}
# Stops that leave the run to another attempt instead of ending it.
HAND_BACKS: Final = frozenset({"handback", "lost"})

# A new attempt numbers its events past the previous attempts' stored ones, leaving room for events the previous
# process sent to its clients but had not stored yet: a client resuming from any of those ids misses nothing.
ATTEMPT_SEQ_GAP: Final = 1_000_000


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


@dataclass(slots=True)
class Emitter:
    """Publishes encoded events to the run's subscribers (and to `run_events` when the run keeps them)."""

    broker: RunBroker
    channel: RunChannel

    def emit(self, event: str, payload: Any) -> None:
        self.broker.publish(self.channel, event, serde.dumps(payload))


@dataclass(kw_only=True, slots=True)
class RunExecutor:
    """Runs claimed runs to completion; one instance per process, shared by all worker slots."""

    database: Database
    registry: GraphRegistry
    broker: RunBroker
    worker_id: str
    timeout_seconds: float
    metrics: Metrics | None = None
    tracer: Tracer | None = None
    webhooks: WebhookSender | None = None
    outbox: WebhookOutbox | None = None
    intake: RunIntake | None = None

    async def execute(self, row: RunRow, handle: RunHandle) -> None:
        """Run the graph, stream its events and record the ending; never raises except on shutdown."""
        if self.intake is not None:
            await self.intake.give_way()  # requests creating runs go first (bounded): see `aegra.runs.intake`
        plan = RunPlan.from_row(row)
        channel = await self._open_channel(row, plan)
        emitter = Emitter(self.broker, channel)
        result = RunResult()
        snapshot: StateSnapshot | None = None
        structlog.contextvars.bind_contextvars(
            run_id=str(row.run_id), thread_id=str(row.thread_id), assistant_id=str(row.assistant_id)
        )
        self.broker.publish(channel, "metadata", run_metadata(row.run_id, row.attempt))
        handle.phase = "streaming"
        try:
            if handle.cancel_action is not None:
                raise asyncio.CancelledError
            if row.attempt > 1 and not plan.temporary and await self._checkpointed(plan):
                plan.resume_from_checkpoint()
                logger.info("resuming run from its last checkpoint", run_id=str(row.run_id), attempt=row.attempt)
            ending, snapshot = await self._run_graph(plan, emitter, result, handle)
        except asyncio.CancelledError:
            if handle.cancel_action is None:
                raise
            _uncancel()
            if handle.handing_back:
                await self._hand_back(plan, channel, handle)
                return
            ending = ROLLBACK if handle.cancel_action == ROLLBACK else RunStatus.INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - graph factories and state reads may raise anything
            _log_failure("run failed outside the graph", plan.run_id, exc)
            result.error = error_payload(exc)
            ending = RunStatus.ERROR
        handle.phase = "finishing"
        await self._finish(row, plan, ending, result, snapshot, channel, handle)

    async def _open_channel(self, row: RunRow, plan: RunPlan) -> RunChannel:
        """The run's event channel; a later attempt numbers its events after the earlier attempts' ones."""
        next_seq = FIRST_SEQ
        if row.attempt > 1 and self.broker.store is not None:
            next_seq = await self.broker.store.last_seq(row.run_id) + 1 + ATTEMPT_SEQ_GAP
        # Events are kept unless the run's only follower is a client of this very process (stream, wait); a run
        # reserved for another process has its client there.
        keep_events = plan.resumable or row.reserved_for != self.worker_id
        followed_elsewhere = row.reserved_for not in (None, self.worker_id)
        return self.broker.start(
            row.run_id, keep_events=keep_events, followed_elsewhere=followed_elsewhere, next_seq=next_seq
        )

    async def _run_graph(
        self, plan: RunPlan, emitter: Emitter, result: RunResult, handle: RunHandle
    ) -> tuple[Ending, StateSnapshot | None]:
        """Build the run's graph (in its trace span), drive it to its ending, then read the thread's state."""
        snapshot: StateSnapshot | None = None
        with self._span(plan) as span:
            if span is not None and self.tracer is not None:
                from aegra.observability.tracing import RunSpanCallback  # OpenTelemetry: only a traced process

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
                if ending == ROLLBACK and not plan.temporary:
                    await self._delete_run_checkpoints(plan)
                if not plan.temporary:
                    snapshot = await graph.aget_state({"configurable": {"thread_id": str(plan.thread_id)}})
        return ending, snapshot

    async def _checkpointed(self, plan: RunPlan) -> bool:
        """Whether the thread's latest checkpoint is this run's: an earlier attempt got that far."""
        config = {"configurable": {"thread_id": str(plan.thread_id), "checkpoint_ns": ""}}
        saved = await self.database.checkpointer.aget_tuple(config)  # type: ignore[arg-type]  # a plain dict is a RunnableConfig
        return saved is not None and saved.metadata.get("run_id") == str(plan.run_id)

    async def _hand_back(self, plan: RunPlan, channel: RunChannel, handle: RunHandle) -> None:
        """Stop without ending the run: keep what it streamed, and let its followers here reconnect elsewhere."""
        try:
            await self.broker.flush(channel)
        except SQLAlchemyError as exc:
            logger.warning("could not store a handed-back run's events", run_id=str(plan.run_id), error=str(exc))
        self.broker.finish(plan.run_id, RunOutcome(RunStatus.PENDING, b""))
        logger.info("run handed back", run_id=str(plan.run_id), attempt=plan.attempt, reason=handle.cancel_action)

    @contextlib.contextmanager
    def _span(self, plan: RunPlan) -> Iterator[Span | None]:
        """The run's trace span (when tracing is on); the graph's own spans nest under it."""
        if self.tracer is None:
            yield None
            return
        attributes: dict[str, str | int] = {
            "aegra.run_id": str(plan.run_id),
            "aegra.thread_id": str(plan.thread_id),
            "aegra.graph_id": plan.graph_id,
            "aegra.attempt": plan.attempt,
        }
        with self.tracer.start_as_current_span(f"run {plan.graph_id}", attributes=attributes) as span:
            yield span

    async def _drive(
        self, graph: AnyGraph, plan: RunPlan, emitter: Emitter, result: RunResult, handle: RunHandle
    ) -> Ending:
        """Stream the graph until it ends, fails, times out or is cancelled."""
        translator = ChunkTranslator(plan.requested, subgraphs=plan.subgraphs, emit=emitter.emit, result=result)
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
            return RunStatus.TIMEOUT
        except asyncio.CancelledError:
            if handle.cancel_action is None or handle.handing_back:
                raise
            _uncancel()
            return ROLLBACK if handle.cancel_action == ROLLBACK else RunStatus.INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - a graph may raise anything; it becomes the run's error
            _log_failure("run failed", plan.run_id, exc)
            result.error = error_payload(exc)
            return RunStatus.ERROR
        return RunStatus.SUCCESS

    def _chunks(self, graph: AnyGraph, plan: RunPlan, context: Any) -> AsyncIterator[Any]:
        return graph.astream(  # type: ignore[call-overload, no-any-return]  # no overload takes a dict of kwargs
            plan.input,
            plan.config,
            stream_mode=plan.graph_modes,
            subgraphs=plan.subgraphs,
            context=context,
            **plan.astream_kwargs,
        )

    def _events(self, graph: AnyGraph, plan: RunPlan, context: Any) -> AsyncIterator[Any]:
        return graph.astream_events(  # type: ignore[call-overload, no-any-return]  # no overload takes a dict of kwargs
            plan.input,
            plan.config,
            version="v2",
            stream_mode=plan.graph_modes,
            subgraphs=plan.subgraphs,
            context=context,
            **plan.astream_kwargs,
        )

    @staticmethod
    def _context_for(graph: AnyGraph, context: dict[str, Any]) -> Any:
        """Keep only the keys the graph's context schema declares (context mirrors `configurable`)."""
        if not context or graph.context_schema is None:
            return context or None
        properties = (graph.get_context_jsonschema() or {}).get("properties")
        if not properties:
            return context
        return {key: value for key, value in context.items() if key in properties}

    async def _delete_run_checkpoints(self, plan: RunPlan) -> None:
        """Rollback: forget every checkpoint (and pending write) the run made on its thread."""
        await delete_run_checkpoints(self.database.lg_pool, str(plan.thread_id), str(plan.run_id))

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
        body = result_body(ending, result, snapshot)
        recorded = False
        webhook: bytes | None = None
        try:
            if result.error is not None and ending in FAILED:
                Emitter(self.broker, channel).emit("error", result.error)
            await self.broker.flush(channel)
            webhook = self._webhook(row, plan, ending, result, body)
            throwaway = plan.temporary and row.temporary  # else the process following it deletes its thread
            ended = None  # rolled back
            if ending != ROLLBACK:
                output = None if ending in FAILED else serde.to_jsonable(body)
                ended = endings.run_ending(
                    plan.run_id,
                    plan.thread_id,
                    ending,
                    snapshot,
                    output=output,
                    error=result.error,
                    cancel_action=handle.cancel_action,
                    throwaway=throwaway,
                )
            recorded = await self._record(plan, ended, snapshot, webhook=webhook, throwaway=throwaway)
        except SQLAlchemyError as exc:
            logger.error("could not record the end of a run", run_id=str(plan.run_id), error=str(exc))
        finally:
            self.broker.finish(plan.run_id, RunOutcome(ending, serde.dumps(body)))
            if self.metrics is not None:
                self.metrics.runs_finished.labels(ending).inc()
            logger.info("run finished", run_id=str(plan.run_id), status=ending, attempt=plan.attempt)
        if recorded and webhook is not None and self.outbox is not None:
            self.outbox.wake()

    def _webhook(self, row: RunRow, plan: RunPlan, ending: Ending, result: RunResult, body: Any) -> bytes | None:
        """What the run's webhook receives (None: it has none, or was rolled back), queued with its ending."""
        if not plan.webhook or self.outbox is None or ending == ROLLBACK:
            return None
        values = None if ending in FAILED else serde.to_jsonable(body)
        return serde.dumps(run_payload(row, status=ending, values=values, error=result.error, ended_at=utcnow()))

    async def _record(
        self,
        plan: RunPlan,
        ending: endings.RunEnding | None,
        snapshot: StateSnapshot | None,
        *,
        webhook: bytes | None,
        throwaway: bool,
    ) -> bool:
        """Store the `ending` (None: rolled back) on the run and its thread, and queue its `webhook` delivery, in one
        transaction; False when the run was no longer this process's to end (reaped after a lost lease, or deleted
        with its thread). See FINISH_RUN: a kept thread's runs are read after its lock is taken."""
        if ending is not None and webhook is None:  # no ORM session; a throwaway thread's: no transaction either
            engine = self.database.autocommit_engine if throwaway else self.database.engine
            async with engine.begin() as conn:
                if not throwaway:
                    await thread_sync.lock_thread_row(conn, plan.thread_id)
                held = await endings.finish_run(conn, ending, origin=self.worker_id)
            if not held:
                async with self.database.sessionmaker() as session:
                    await self._not_held(session, plan)
            return held
        async with self.database.sessionmaker() as session:
            if ending is None:
                held = await endings.roll_back_run(
                    session, plan.run_id, plan.thread_id, origin=self.worker_id, snapshot=snapshot, throwaway=throwaway
                )
            else:
                if not throwaway:
                    await thread_sync.lock_thread_only(session, plan.thread_id)
                held = await endings.finish_run(session, ending, origin=self.worker_id)
            if not held:
                await session.rollback()
                await self._not_held(session, plan)
                return False
            if webhook is not None and plan.webhook:
                await enqueue_delivery(session, run_id=plan.run_id, url=plan.webhook, body=webhook)
            await session.commit()
        return True

    async def _not_held(self, session: AsyncSession, plan: RunPlan) -> None:
        """The run's ending was not recorded: it was taken away (reaped, or deleted with its thread)."""
        await self._forget_deleted_thread(session, plan)
        logger.warning("run ended after it was taken away; ending not recorded", run_id=str(plan.run_id))

    async def _forget_deleted_thread(self, session: AsyncSession, plan: RunPlan) -> None:
        """The thread was deleted while the run executed: drop the checkpoints the run wrote after that."""
        if plan.temporary or await thread_sync.thread_exists(session, plan.thread_id):
            return
        await self.database.checkpointer.adelete_thread(str(plan.thread_id))


def _log_failure(message: str, run_id: uuid.UUID, exc: BaseException) -> None:
    """Log with a plain-text traceback: rendering it richly (with locals) would stall the event loop."""
    trace = "".join(traceback.format_exception(exc))
    logger.error(message, run_id=str(run_id), error=f"{type(exc).__name__}: {exc}", exception=trace)


def _uncancel() -> None:
    """We handled a cancellation we asked for; let the task keep awaiting its cleanup."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
