"""The run queue in PostgreSQL: a run is a row first (inserted under its thread's multitask rule), claimed by
a worker with `FOR UPDATE SKIP LOCKED` (FIFO per thread), leased while it executes, and finished in place.
Any number of processes can share one database; NOTIFY wakes them, a slow poll is only the safety net.
A run whose lease expired (its process died) is put back in the queue, or ended `error` after its last attempt.

The statements live in `aegra.db.queue`; here are the rules around them (multitask strategies, who is told what),
and each operation owns its transaction (it commits, unless its docstring says the caller does)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from aegra.auth.filters import Filters, matches
from aegra.db.models import Run as RunRow
from aegra.db.models import utcnow
from aegra.db.queue import QueueStorage
from aegra.db.repositories.base import autocommit
from aegra.db.repositories.runs import RunRepository
from aegra.errors import ConflictError, NotFoundError
from aegra.runs import thread_sync
from aegra.runs.multitask import plan_multitask
from aegra.schemas.status import INFLIGHT

# NOTIFY channels: a run became claimable (body `delayed` when it waits for `after_seconds`); cancel a run (body
# `run_id:action`); a run ended (body run_id); events of a run were stored (body `run_id:last seq`); a client
# follows a run's events from another process (body run_id); a thread's state was updated (body
# `thread_id:checkpoint_id:last run id`, see `StateUpdated`). Payloads are `<origin worker id>|<body>`, so a process
# can skip its own notices (it acted on them already).
CHANNEL_QUEUED: Final = "aegra_run_queued"
CHANNEL_CANCEL: Final = "aegra_run_cancel"
CHANNEL_DONE: Final = "aegra_run_done"
CHANNEL_EVENTS: Final = "aegra_run_events"
CHANNEL_FOLLOW: Final = "aegra_run_follow"
CHANNEL_STATE: Final = "aegra_thread_state"
CHANNELS: Final = (CHANNEL_QUEUED, CHANNEL_CANCEL, CHANNEL_DONE, CHANNEL_EVENTS, CHANNEL_FOLLOW, CHANNEL_STATE)

# How long a run queued with a client following it (stream, wait) is reserved for the process serving that client:
# its events then reach the client straight from memory, without the detour through `run_events`.
AFFINITY_SECONDS: Final = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class NewRun:
    """Everything needed to insert a run row (the service validated and merged it)."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    assistant_version: tuple[int, datetime]  # the `version` and `updated_at` of the assistant it was built from
    graph_id: str
    metadata: dict[str, Any]
    kwargs: dict[str, Any]
    multitask_strategy: str
    temporary: bool
    after_seconds: float
    create_thread: bool
    fresh_thread: bool = False  # the thread id was just generated (stateless run): create it without looking
    reserved_for: str | None = None
    thread_metadata: dict[str, Any] = field(default_factory=dict)  # a thread created for the run starts with it
    thread_filters: Filters | None = None  # auth: the thread must match them, else it does not exist


class StaleAssistant(ConflictError):
    """The run's assistant changed (or was deleted) after the run was built from it: nothing was inserted (the
    caller rolls back and builds the run again from the assistant as stored now)."""

    def __init__(self, assistant_id: uuid.UUID) -> None:
        super().__init__(f"Assistant {assistant_id} changed while the run was being created; try again")
        self.assistant_id = assistant_id


@dataclass(frozen=True, slots=True)
class CancelledRun:
    """A run a cancel request reached, and the status it had then (`pending` ones are already settled)."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    status: str


async def notify(session: AsyncSession, channel: str, *, origin: str, body: str = "") -> None:
    """Send a NOTIFY that PostgreSQL delivers when the transaction commits."""
    await QueueStorage(session).notify(channel, notice(origin, body))


def notice(origin: str, body: str = "") -> str:
    """A NOTIFY payload: `<origin worker id>|<body>`."""
    return f"{origin}|{body}"


def parse_notice(payload: str) -> tuple[str, str]:
    """A NOTIFY payload as (origin worker id, body)."""
    origin, _, body = payload.partition("|")
    return origin, body


async def insert_run(session: AsyncSession, new: NewRun, *, origin: str) -> tuple[RunRow, list[CancelledRun]]:
    """Insert a pending run on its (locked) thread, applying the multitask strategy, and announce it; commits.

    Returns the row and the in-flight runs the strategy cancelled (running ones still need their signal).
    """
    storage = QueueStorage(session)
    stamp = thread_sync.run_stamp(new.graph_id, new.assistant_id)
    row = _pending_row(new)
    payload = notice(origin, "delayed" if new.after_seconds > 0 else "")
    if new.fresh_thread:  # a stateless run's new thread: nobody else can see it, nothing runs on it
        metadata = {**stamp, **new.thread_metadata}
        if not matches(metadata, new.thread_filters):
            raise NotFoundError(f"Thread {new.thread_id} not found")
        on_new_thread = {"thread_metadata": metadata, "channel": CHANNEL_QUEUED, "payload": payload}
        async with autocommit(session):  # one statement: atomic on its own
            if not await storage.insert_run_on_new_thread(row, new.assistant_version, on_new_thread):
                raise StaleAssistant(new.assistant_id)
        await session.commit()  # a transaction the session had open already
        return row, []
    if new.multitask_strategy == "enqueue" and not new.thread_filters and await _enqueue(session, new, row, payload):
        return row, []
    created = await _lock_thread(session, new, stamp)
    inflight = [] if created else await storage.inflight(new.thread_id)
    action = plan_multitask(new.multitask_strategy, has_inflight=bool(inflight))
    if action == "reject":
        raise ConflictError(
            "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."
        )
    cancelled = await _cancel_rows(storage, inflight, action, origin=origin) if action is not None else []
    params = {"stamp": stamp, "mark_busy": not created, "channel": CHANNEL_QUEUED, "payload": payload}
    if not await storage.insert_run(row, new.assistant_version, params):
        raise StaleAssistant(new.assistant_id)
    await session.commit()
    return row, cancelled


async def _enqueue(session: AsyncSession, new: NewRun, row: RunRow, payload: str) -> bool:
    """`enqueue` leaves the thread's other runs alone, and no auth filter applies to the thread: the run is queued
    on it (created when asked and missing) in one statement; commits. False, and nothing done, when the thread is
    missing (or a concurrent create of it won): the general path sorts that out."""
    stamp = thread_sync.run_stamp(new.graph_id, new.assistant_id)
    params = {
        "stamp": stamp,
        "create_thread": new.create_thread,
        "thread_metadata": {**stamp, **new.thread_metadata},
        "channel": CHANNEL_QUEUED,
        "payload": payload,
    }
    async with autocommit(session):  # one statement: atomic on its own
        found, current, queued = await QueueStorage(session).insert_run_on_thread(row, new.assistant_version, params)
    await session.commit()  # a transaction the session had open already
    if not current:
        raise StaleAssistant(new.assistant_id)
    return found and queued


def _pending_row(new: NewRun) -> RunRow:
    """The row INSERT_RUN stores (not added to the session: the statement inserts it)."""
    now = utcnow()
    return RunRow(
        run_id=new.run_id,
        thread_id=new.thread_id,
        assistant_id=new.assistant_id,
        status="pending",
        metadata_=new.metadata,
        kwargs=new.kwargs,
        multitask_strategy=new.multitask_strategy,
        attempt=0,
        worker_id=None,
        reserved_for=new.reserved_for,
        lease_expires_at=None,
        available_at=now + timedelta(seconds=new.after_seconds),
        error=None,
        output=None,
        temporary=new.temporary,
        created_at=now,
        updated_at=now,
    )


async def _lock_thread(session: AsyncSession, new: NewRun, stamp: dict[str, Any]) -> bool:
    """Lock the run's thread, or create it (`if_not_exists="create"`): True when this transaction created it
    (`busy` and stamped already, with no runs); 404 when it is missing or hidden."""
    thread = await thread_sync.lock_thread(session, new.thread_id)
    if thread is None:
        if not new.create_thread:
            raise NotFoundError(f"Thread {new.thread_id} not found")
        metadata = {**stamp, **new.thread_metadata}
        if await thread_sync.create_thread(session, new.thread_id, metadata):  # locked by its insert
            if not matches(metadata, new.thread_filters):
                raise NotFoundError(f"Thread {new.thread_id} not found")
            return True
        thread = await thread_sync.lock_thread(session, new.thread_id)  # a concurrent create won
    if thread is None or not matches(thread.metadata_, new.thread_filters):
        raise NotFoundError(f"Thread {new.thread_id} not found")
    return False


async def _cancel_rows(
    storage: QueueStorage, rows: Sequence[RunRow], action: str, *, origin: str
) -> list[CancelledRun]:
    """Pending runs end here (`interrupted`, or deleted on rollback); running ones get a NOTIFY."""
    cancelled: list[CancelledRun] = []
    for row in rows:
        status = row.status  # as read: the ORM update below sets `row.status` to `interrupted`
        cancelled.append(CancelledRun(row.run_id, row.thread_id, status))
        if status == "running":
            await storage.notify(CHANNEL_CANCEL, notice(origin, f"{row.run_id}:{action}"))
        elif action == "rollback":
            await storage.delete(row.run_id)
        else:
            await storage.interrupt_pending(row.run_id)
        if status == "pending":
            await storage.notify(CHANNEL_DONE, notice(origin, str(row.run_id)))
    return cancelled


async def cancel_runs(
    session: AsyncSession,
    *,
    origin: str,
    action: str,
    run_ids: Sequence[uuid.UUID] | None = None,
    thread_id: uuid.UUID | None = None,
    statuses: Sequence[str] = INFLIGHT,
) -> list[CancelledRun]:
    """Cancel the in-flight runs matching the filters; commits. Threads left without runs are settled."""
    storage = QueueStorage(session)
    # Threads before runs (sorted), the order run creation and a run's ending lock them in.
    for affected in await storage.cancellable_threads(statuses, run_ids=run_ids, thread_id=thread_id):
        await thread_sync.lock_thread(session, affected)
    rows = await storage.cancellable(statuses, run_ids=run_ids, thread_id=thread_id)
    cancelled = await _cancel_rows(storage, rows, action, origin=origin)
    pending_threads = {item.thread_id for item in cancelled if item.status == "pending"}
    for affected in pending_threads:
        await thread_sync.settle(session, affected)
    if pending_threads:  # the next run on their thread may be claimable now
        await storage.notify(CHANNEL_QUEUED, notice(origin))
    await session.commit()
    return cancelled


async def stop_thread_runs(session: AsyncSession, thread_id: uuid.UUID, *, origin: str) -> None:
    """The thread is being deleted (with its runs, in this transaction): stop its running runs wherever they
    execute, and tell the followers of its pending ones that they ended. Sent when the caller commits."""
    storage = QueueStorage(session)
    await thread_sync.lock_thread(session, thread_id)  # thread before runs, the order run creation locks them in
    for row in await storage.inflight(thread_id):
        if row.status == "running":
            await storage.notify(CHANNEL_CANCEL, notice(origin, f"{row.run_id}:interrupt"))
        await storage.notify(CHANNEL_DONE, notice(origin, str(row.run_id)))


async def claim_runs(session: AsyncSession, worker_id: str, *, limit: int, lease_seconds: float) -> list[RunRow]:
    """Take up to `limit` of the oldest claimable runs for this worker (`running`, leased, attempt + 1), in one
    statement (outside a transaction when the session has none open: no BEGIN and COMMIT round trips); commits.
    Oldest first."""
    async with autocommit(session):
        rows = await QueueStorage(session).claim(
            worker_id, limit=limit, lease_seconds=lease_seconds, affinity_seconds=AFFINITY_SECONDS
        )
    await session.commit()  # a transaction the session had open already
    return rows


async def reap_expired_leases(
    session: AsyncSession,
    *,
    origin: str,
    max_attempts: int,
    batch: int = 100,
    on_ended: Callable[[AsyncSession, RunRow], Awaitable[None]] | None = None,
) -> list[RunRow]:
    """Put runs whose lease expired back in the queue, or end them `error` after `max_attempts`; commits.

    Threads of the runs that ended are settled (or deleted, for throwaway threads), and `on_ended` (their webhook)
    runs in the same transaction; returns the reaped rows.
    """
    storage = QueueStorage(session)
    async with autocommit(session):  # the common case, nothing expired: one statement, no transaction
        expired = await storage.expired_leases(batch=batch)
    if not expired:
        return []
    # Threads before runs (sorted), the order run creation, a run's ending and cancel lock them in; only the runs
    # ending here touch their thread.
    for thread_id in sorted({thread_id for _, thread_id, attempt in expired if attempt >= max_attempts}):
        await thread_sync.lock_thread(session, thread_id)
    rows = await storage.reap_expired([run_id for run_id, _, _ in expired], max_attempts=max_attempts)
    for row in rows:
        if row.status != "error":
            continue
        await storage.notify(CHANNEL_DONE, notice(origin, str(row.run_id)))
        if on_ended is not None:
            await on_ended(session, row)
        if row.temporary:
            await thread_sync.delete_thread(session, row.thread_id)
        else:
            await thread_sync.record_run_end(session, row.thread_id, None, error=row.error)
    if rows:
        await storage.notify(CHANNEL_QUEUED, notice(origin))
    await session.commit()
    return rows


async def sweep_run_events(session: AsyncSession, *, ttl_seconds: float, batch: int = 5000) -> int:
    """Drop up to `batch` kept events of runs that ended more than `ttl_seconds` ago; commits. Returns how many.
    One statement, outside a transaction when the session has none open."""
    async with autocommit(session):
        swept = await QueueStorage(session).sweep_events(ttl_seconds=ttl_seconds, batch=batch)
    await session.commit()
    return swept


async def next_available_at(session: AsyncSession) -> datetime | None:
    """When the earliest delayed (`after_seconds`) pending run becomes claimable."""
    return await QueueStorage(session).next_available_at()


async def extend_leases(
    session: AsyncSession, worker_id: str, run_ids: Collection[uuid.UUID], *, lease_seconds: float
) -> set[uuid.UUID]:
    """Heartbeat: push back the lease of the runs this worker executes (`run_ids`); commits. Returns the runs it
    still holds (a run missing there was reaped after its lease expired, and may execute elsewhere now). One
    statement, outside a transaction when the session has none open."""
    async with autocommit(session):
        held = await QueueStorage(session).extend_leases(worker_id, run_ids, lease_seconds=lease_seconds)
    await session.commit()
    return held


async def get_run(session: AsyncSession, run_id: uuid.UUID, *, thread_id: uuid.UUID | None = None) -> RunRow | None:
    """The run as stored now (never a stale copy from the session's identity map); outside a transaction when
    the session has none open."""
    async with autocommit(session):
        return await RunRepository(session).get_fresh(run_id, thread_id=thread_id)


async def list_runs(
    session: AsyncSession, thread_id: uuid.UUID, *, limit: int, offset: int, status: str | None
) -> list[RunRow]:
    """A thread's runs, newest first."""
    return await RunRepository(session).list_for_thread(thread_id, limit=limit, offset=offset, status=status)


async def delete_finished_run(session: AsyncSession, run_id: uuid.UUID, thread_id: uuid.UUID) -> None:
    """Delete a run that is no longer in flight; commits."""
    runs = RunRepository(session)
    row = await runs.get_fresh(run_id, thread_id=thread_id)
    if row is None:
        raise NotFoundError(f"Run {run_id} not found")
    if row.status in INFLIGHT:
        raise ConflictError(f"Run {run_id} is {row.status}; cancel it before deleting it")
    await runs.delete_where(RunRow.run_id == run_id)
    await session.commit()
