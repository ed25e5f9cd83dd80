"""The run lifecycle behind the controllers: validate and queue runs, follow them (SSE, wait, join), cancel,
read and delete them. Execution itself belongs to the worker pool."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import structlog
import uuid_utils.compat
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.filters import Filters, matches
from aegra.db.database import Database
from aegra.db.models import Assistant as AssistantRow
from aegra.db.models import Run as RunRow
from aegra.db.repositories.runs import RunRepository
from aegra.db.repositories.threads import ThreadRepository
from aegra.errors import NotFoundError, UnprocessableError
from aegra.graphs.registry import GraphRegistry
from aegra.runs import queue
from aegra.runs.broker import RunBroker, Subscription
from aegra.runs.contract import RunKwargs, stamp_metadata
from aegra.runs.prepare import RunTarget, build_run_kwargs, multitask_strategy, run_metadata
from aegra.runs.worker import WorkerPool
from aegra.schemas.runs import MultitaskStrategy, Run, RunCreate, RunCreateStateless, RunsCancel
from aegra.schemas.status import INFLIGHT, RunStatus
from aegra.services.assistants import AssistantService, parse_assistant_id
from aegra.services.ids import parse_uuid
from aegra.services.serialization import to_schema

logger = structlog.get_logger(__name__)

# A run built from a cached assistant that another process changed meanwhile is built again, this often at most.
STALE_ASSISTANT_ATTEMPTS: Final = 3
NO_RUNS_TO_CANCEL: Final = (
    "No matching runs to cancel. Please verify the thread ID and run IDs are correct, "
    "and the runs haven't been deleted or completed."
)


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (version 7), as langgraph-api uses for run ids and stateless threads."""
    return uuid_utils.compat.uuid7()


@dataclass(frozen=True, slots=True)
class FollowedRun:
    """A run just queued (or found) together with this request's subscription to it."""

    row: RunRow
    subscription: Subscription


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizedRun:
    """What `threads.create_run` authorization settled: the run's own metadata (with the handler's stamps), its
    multitask strategy, and the filters its thread must match."""

    metadata: dict[str, Any]
    strategy: MultitaskStrategy
    thread_filters: Filters | None


def _request_id() -> str:
    """The id of the request creating the run (a fresh one outside a request, e.g. for a cron)."""
    return structlog.contextvars.get_contextvars().get("request_id") or uuid.uuid4().hex


@dataclass(slots=True)
class RunService:
    """Runs for one request (one database session)."""

    session: AsyncSession
    registry: GraphRegistry
    database: Database
    broker: RunBroker
    pool: WorkerPool
    auth: Authorizer = field(default=NO_AUTH, kw_only=True)

    # -- creating ------------------------------------------------------------------------------------------------

    async def create(self, thread_id: str | None, payload: RunCreate) -> RunRow:
        """Queue a background run (stateless when `thread_id` is None)."""
        await self.pool.admission.admit()
        return await self._queue(thread_id, payload, run_id=uuid7(), followed=False)

    async def create_and_follow(self, thread_id: str | None, payload: RunCreate, *, events: bool) -> FollowedRun:
        """Queue a run and subscribe to it first, so not even its `metadata` event is missed."""
        await self.pool.admission.admit()
        run_id = uuid7()
        subscription = self.broker.subscribe(run_id, events=events)
        try:
            row = await self._queue(thread_id, payload, run_id=run_id, followed=True)
        except BaseException:
            self.broker.unsubscribe(subscription)
            raise
        return FollowedRun(row, subscription)

    async def _queue(self, thread_id: str | None, payload: RunCreate, *, run_id: uuid.UUID, followed: bool) -> RunRow:
        """Build the run and insert it; built again from the assistant as stored now when the copy it was built
        from turns out stale (another process changed the assistant)."""
        for _ in range(STALE_ASSISTANT_ATTEMPTS - 1):
            try:
                return await self._insert(await self._build(thread_id, payload, run_id=run_id, followed=followed))
            except queue.StaleAssistant as stale:
                await self.session.rollback()
                self.database.assistant_rows.forget(stale.assistant_id)
        return await self._insert(await self._build(thread_id, payload, run_id=run_id, followed=followed))

    async def _build(
        self, thread_id: str | None, payload: RunCreate, *, run_id: uuid.UUID, followed: bool
    ) -> queue.NewRun:
        """The run to insert, from the assistant as this process knows it."""
        new = await self._prepare(thread_id, payload, run_id=run_id)
        return self._followed_here(new) if followed else new

    def _followed_here(self, new: queue.NewRun) -> queue.NewRun:
        """A run whose client follows it from this process."""
        if self.pool.claims:
            return dataclasses.replace(new, reserved_for=self.pool.worker_id)  # start it here, where its client is
        if new.temporary:  # its worker must not delete the run with its thread before the outcome is read here
            self.pool.delete_when_ended(new.run_id, new.thread_id)
            return dataclasses.replace(new, temporary=False)
        return new

    async def create_batch(self, payloads: Sequence[RunCreateStateless]) -> list[RunRow]:
        """Queue several stateless background runs (all or none, when the server is at capacity)."""
        await self.pool.admission.admit(len(payloads))
        return [await self._queue(None, payload, run_id=uuid7(), followed=False) for payload in payloads]

    async def _insert(self, new: queue.NewRun) -> RunRow:
        row, cancelled = await queue.insert_run(self.session, new, origin=self.pool.worker_id)
        self.pool.signal_cancelled(cancelled, new.multitask_strategy)
        self.pool.wake(delayed=new.after_seconds > 0)
        logger.info("run queued", run_id=str(row.run_id), thread_id=str(row.thread_id), graph_id=new.graph_id)
        return row

    async def _prepare(self, raw_thread_id: str | None, payload: RunCreate, *, run_id: uuid.UUID) -> queue.NewRun:
        """Validate the body, merge it over the assistant into the run's kwargs, and let auth see (and stamp) it."""
        stateless = raw_thread_id is None
        thread_id = uuid7() if raw_thread_id is None else parse_uuid(raw_thread_id, "thread")
        target = RunTarget(run_id=run_id, thread_id=thread_id, stateless=stateless)
        assistant = await self._visible_assistant(payload.assistant_id)
        metadata = run_metadata(payload, assistant)
        kwargs = build_run_kwargs(
            payload, assistant, target, metadata=metadata, identity=self.auth.run_identity(), request_id=_request_id()
        )
        if payload.webhook is not None and self.pool.executor.webhooks is not None:
            self.pool.executor.webhooks.check_url(payload.webhook)
        stored = kwargs.encode()
        authorized = await self._authorize_run(payload, target, assistant, kwargs, stored)
        metadata |= authorized.metadata  # what the handler stamped (e.g. an owner) is the run's, and a new thread's
        stamp_metadata(stored, authorized.metadata)
        return queue.NewRun(
            run_id=run_id,
            thread_id=thread_id,
            assistant_id=assistant.assistant_id,
            assistant_version=(assistant.version, assistant.updated_at),
            graph_id=assistant.graph_id,
            metadata=metadata,
            kwargs=stored,
            multitask_strategy=authorized.strategy,
            temporary=kwargs.temporary,
            after_seconds=payload.after_seconds,
            create_thread=stateless or payload.if_not_exists == "create",
            fresh_thread=stateless,
            thread_metadata=authorized.metadata,
            thread_filters=authorized.thread_filters,
        )

    async def _visible_assistant(self, raw_id: str) -> AssistantRow:
        """The run's assistant (by id or graph id), when the caller may see it and its graph is still served."""
        assistant_id = parse_assistant_id(raw_id, self.registry)
        assistants = AssistantService(self.session, self.registry)
        assistant = await assistants.get_row_for_run(assistant_id, self.database.assistant_rows)
        if not matches(assistant.metadata_, await self.auth.assistant_filters(assistant_id, assistant.graph_id)):
            raise NotFoundError(f"Assistant {assistant_id} not found")
        self.registry.spec(assistant.graph_id)  # 404 when the assistant's graph is no longer served
        return assistant

    async def _authorize_run(
        self,
        payload: RunCreate,
        target: RunTarget,
        assistant: AssistantRow,
        kwargs: RunKwargs,
        stored: dict[str, Any],
    ) -> AuthorizedRun:
        """`threads.create_run`: the handler sees the run (it may edit `stored` and stamp `metadata` in place) and
        answers with the filters the run's thread must match."""
        strategy = multitask_strategy(payload)
        metadata = dict(payload.metadata or {})
        thread_filters = await self.auth.authorize(
            "threads",
            "create_run",
            {
                "thread_id": None if kwargs.temporary else target.thread_id,
                "assistant_id": assistant.assistant_id,
                "run_id": target.run_id,
                "status": RunStatus.PENDING,
                "metadata": metadata,
                "prevent_insert_if_inflight": strategy == "reject",
                "multitask_strategy": strategy,
                "if_not_exists": "create" if target.stateless else payload.if_not_exists,
                "after_seconds": payload.after_seconds,
                "kwargs": stored,
            },
        )
        return AuthorizedRun(metadata=metadata, strategy=strategy, thread_filters=thread_filters)

    async def release_connection(self) -> None:
        """End the request's read transaction, so no pooled connection sits idle in it while a client follows a
        run for minutes (rows read so far stay usable: the session does not expire them on commit)."""
        await self.session.commit()

    # -- cancelling ----------------------------------------------------------------------------------------------

    async def cancel(self, thread_id: str, run_id: str, *, action: str, wait: bool) -> Run:
        """Cancel one in-flight run; with `wait`, return once it has ended. Answers with the run as it is then."""
        row = await self.get_row(thread_id, run_id, action="update", detail={"action": action})
        if row.status not in INFLIGHT:
            raise NotFoundError(NO_RUNS_TO_CANCEL)
        subscription = self.broker.subscribe(row.run_id, events=False) if wait else None
        try:
            cancelled = await self._cancel_rows(action, run_ids=[row.run_id])
            if not cancelled:
                raise NotFoundError(NO_RUNS_TO_CANCEL)
            self.pool.signal_cancelled(cancelled, action)
            if subscription is not None:
                await subscription.wait_outcome(None)
        finally:
            if subscription is not None:
                self.broker.unsubscribe(subscription)
        fresh = await queue.get_run(self.session, row.run_id)
        if fresh is None:  # rolled back: the row is gone, report it as it ended
            return msgspec.structs.replace(to_schema(row, Run), status=RunStatus.INTERRUPTED)
        return to_schema(fresh, Run)

    async def cancel_many(self, body: RunsCancel, *, action: str) -> None:
        """`POST /runs/cancel`: by `thread_id` + `run_ids`, or every run with a `status` (on threads the caller
        may update, when auth is configured)."""
        if body.status is not None:
            if body.thread_id is not None or body.run_ids is not None:
                raise UnprocessableError("Cannot specify 'thread_id' or 'run_ids' when using 'status'")
            statuses = INFLIGHT if body.status == "all" else (body.status,)
            filters = await self.auth.authorize(
                "threads", "update", {"thread_id": None, "action": action, "metadata": {"status": body.status}}
            )
            visible = await self._visible_run_ids(statuses, filters) if filters else None
            cancelled = await self._cancel_rows(action, run_ids=visible, statuses=statuses)
        else:
            if body.thread_id is None or not body.run_ids:
                raise UnprocessableError("Must provide either a status, or both 'thread_id' and 'run_ids'")
            thread_id = parse_uuid(body.thread_id, "thread")
            run_ids = [parse_uuid(raw, "run") for raw in body.run_ids]
            metadata = {"run_ids": [str(run) for run in run_ids], "status": None}
            filters = await self.auth.authorize(
                "threads", "update", {"thread_id": thread_id, "action": action, "metadata": metadata}
            )
            if not await self.thread_visible(thread_id, filters):
                raise NotFoundError(NO_RUNS_TO_CANCEL)
            cancelled = await self._cancel_rows(action, run_ids=run_ids, thread_id=thread_id)
            if not cancelled:
                raise NotFoundError(NO_RUNS_TO_CANCEL)
        self.pool.signal_cancelled(cancelled, action)

    async def _cancel_rows(
        self,
        action: str,
        *,
        run_ids: Sequence[uuid.UUID] | None = None,
        thread_id: uuid.UUID | None = None,
        statuses: Sequence[str] = INFLIGHT,
    ) -> list[queue.CancelledRun]:
        return await queue.cancel_runs(
            self.session,
            origin=self.pool.worker_id,
            action=action,
            run_ids=run_ids,
            thread_id=thread_id,
            statuses=statuses,
        )

    # -- reading and deleting ------------------------------------------------------------------------------------

    async def get_row(
        self, thread_id: str, run_id: str, *, action: str = "read", detail: dict[str, Any] | None = None
    ) -> RunRow:
        """A run of a thread; runs are authorized through their thread (`threads.<action>`), like langgraph-api."""
        parsed_thread = parse_uuid(thread_id, "thread")
        parsed_run = parse_uuid(run_id, "run")
        value = {"thread_id": parsed_thread, "run_id": parsed_run, **(detail or {})}
        filters = await self.auth.authorize("threads", action, value)
        row = await queue.get_run(self.session, parsed_run, thread_id=parsed_thread)
        if row is None or not await self.thread_visible(parsed_thread, filters):
            raise NotFoundError(f"Run {parsed_run} not found")
        return row

    async def get_any_row(self, run_id: str) -> RunRow:
        """A run by id alone (stateless runs are addressed without their thread)."""
        parsed = parse_uuid(run_id, "run")
        row = await queue.get_run(self.session, parsed)
        if row is None:
            raise NotFoundError(f"Run {parsed} not found")
        filters = await self.auth.authorize("threads", "read", {"thread_id": row.thread_id, "run_id": parsed})
        if not await self.thread_visible(row.thread_id, filters):
            raise NotFoundError(f"Run {parsed} not found")
        return row

    async def list_runs(self, thread_id: str, *, limit: int, offset: int, status: str | None) -> list[Run]:
        """A thread's runs, newest first (404 for an unknown thread)."""
        parsed = parse_uuid(thread_id, "thread")
        filters = await self.auth.authorize("threads", "search", {"thread_id": parsed, "metadata": {}})
        if not await ThreadRepository(self.session).exists(thread_id=parsed) or (
            not await self.thread_visible(parsed, filters)
        ):
            raise NotFoundError(f"Thread with ID {parsed} not found")
        rows = await queue.list_runs(self.session, parsed, limit=limit, offset=offset, status=status)
        return [to_schema(row, Run) for row in rows]

    async def delete(self, thread_id: str, run_id: str) -> None:
        parsed_thread = parse_uuid(thread_id, "thread")
        parsed_run = parse_uuid(run_id, "run")
        filters = await self.auth.authorize("threads", "delete", {"thread_id": parsed_thread, "run_id": parsed_run})
        if not await self.thread_visible(parsed_thread, filters):
            raise NotFoundError(f"Run {parsed_run} not found")
        await queue.delete_finished_run(self.session, parsed_run, parsed_thread)

    async def thread_visible(self, thread_id: uuid.UUID, filters: Filters | None) -> bool:
        """Whether the auth `filters` let the caller see the thread (no filters: yes)."""
        if not filters:
            return True
        metadata = await ThreadRepository(self.session).metadata_of(thread_id)
        return metadata is not None and matches(metadata, filters)

    async def _visible_run_ids(self, statuses: Sequence[str], filters: Filters) -> list[uuid.UUID]:
        """Ids of the runs with `statuses` on threads the `filters` let the caller see."""
        return await RunRepository(self.session).ids_on_visible_threads(statuses, filters)
