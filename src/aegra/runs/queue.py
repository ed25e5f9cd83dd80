"""The run queue in PostgreSQL: a run is a row first (inserted under its thread's multitask rule), claimed by
a worker with `FOR UPDATE SKIP LOCKED` (FIFO per thread), leased while it executes, and finished in place.
Any number of processes can share one database; NOTIFY wakes them, a slow poll is only the safety net.
A run whose lease expired (its process died) is put back in the queue, or ended `error` after its last attempt."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.auth.filters import Filters, matches
from aegra.db.models import Run as RunRow
from aegra.db.models import utcnow
from aegra.errors import ConflictError, NotFoundError
from aegra.runs import thread_sync
from aegra.runs.multitask import plan_multitask

# NOTIFY channels: a run became claimable (body `delayed` when it waits for `after_seconds`); cancel a run (body
# `run_id:action`); a run ended (body run_id); events of a run were stored (body `run_id:last seq`); a client
# follows a run's events from another process (body run_id). Payloads are `<origin worker id>|<body>`, so a process
# can skip its own notices (it acted on them already).
CHANNEL_QUEUED: Final = "aegra_run_queued"
CHANNEL_CANCEL: Final = "aegra_run_cancel"
CHANNEL_DONE: Final = "aegra_run_done"
CHANNEL_EVENTS: Final = "aegra_run_events"
CHANNEL_FOLLOW: Final = "aegra_run_follow"
CHANNELS: Final = (CHANNEL_QUEUED, CHANNEL_CANCEL, CHANNEL_DONE, CHANNEL_EVENTS, CHANNEL_FOLLOW)

INFLIGHT: Final = ("pending", "running")

# How long a run queued with a client following it (stream, wait) is reserved for the process serving that client:
# its events then reach the client straight from memory, without the detour through `run_events`.
AFFINITY_SECONDS: Final = 2.0

# The oldest claimable run. A thread runs one run at a time, oldest first: a pending run waits for every run on
# its thread that is running or was created before it. `reserved_for` names the process a run is reserved for
# (see AFFINITY_SECONDS), `worker_id` the one executing it.
CLAIM_NEXT_RUN: Final = """
UPDATE runs
SET status = 'running', attempt = attempt + 1, worker_id = :worker_id,
    lease_expires_at = now() + make_interval(secs => :lease_seconds), updated_at = now()
WHERE run_id = (
    SELECT r.run_id
    FROM runs AS r
    WHERE r.status = 'pending'
      AND r.available_at <= now()
      AND (r.reserved_for IS NULL OR r.reserved_for = :worker_id
           OR r.created_at < now() - make_interval(secs => :affinity_seconds))
      AND NOT EXISTS (
        SELECT 1 FROM runs AS o
        WHERE o.thread_id = r.thread_id
          AND o.run_id <> r.run_id
          AND (o.status = 'running' OR (o.status = 'pending' AND (o.created_at, o.run_id) < (r.created_at, r.run_id)))
      )
    ORDER BY r.created_at, r.run_id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING runs.*
"""

EXTEND_LEASES: Final = """
UPDATE runs SET lease_expires_at = now() + make_interval(secs => :lease_seconds)
WHERE worker_id = :worker_id AND status = 'running'
RETURNING run_id
"""

# Runs whose process stopped heartbeating: back to the queue (the next attempt resumes from the run's last
# checkpoint), or `error` once they used their attempts. Several processes may reap at once: SKIP LOCKED.
REAP_EXPIRED_LEASES: Final = """
WITH expired AS (
    SELECT run_id FROM runs
    WHERE status = 'running' AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
UPDATE runs
SET status = CASE WHEN runs.attempt >= :max_attempts THEN 'error' ELSE 'pending' END,
    error = CASE WHEN runs.attempt >= :max_attempts
                 THEN jsonb_build_object('error', 'WorkerLostError', 'message',
                      'The process executing the run stopped (attempt ' || runs.attempt || ' of ' || :max_attempts
                      || '); giving up after RUN_MAX_ATTEMPTS')
                 ELSE NULL END,
    worker_id = NULL, reserved_for = NULL, lease_expires_at = NULL, available_at = now(), updated_at = now()
FROM expired
WHERE runs.run_id = expired.run_id
RETURNING runs.*
"""

# Events of runs that ended more than `ttl` seconds ago (or whose run is gone) are dropped, a batch at a time.
SWEEP_RUN_EVENTS: Final = """
DELETE FROM run_events
WHERE ctid = ANY (ARRAY(
    SELECT e.ctid FROM run_events AS e
    WHERE e.created_at < now() - make_interval(secs => :ttl_seconds)
      AND NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.run_id = e.run_id AND r.status IN ('pending', 'running'))
    LIMIT :batch
))
"""

NOTIFY: Final = "SELECT pg_notify(:channel, :payload)"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewRun:
    """Everything needed to insert a run row (the service validated and merged it)."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
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


@dataclass(frozen=True, slots=True)
class CancelledRun:
    """A run a cancel request reached, and the status it had then (`pending` ones are already settled)."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    status: str


async def notify(session: AsyncSession, channel: str, *, origin: str, body: str = "") -> None:
    """Send a NOTIFY that PostgreSQL delivers when the transaction commits."""
    await session.execute(text(NOTIFY), {"channel": channel, "payload": f"{origin}|{body}"})


def parse_notice(payload: str) -> tuple[str, str]:
    """A NOTIFY payload as (origin worker id, body)."""
    origin, _, body = payload.partition("|")
    return origin, body


async def insert_run(session: AsyncSession, new: NewRun, *, origin: str) -> tuple[RunRow, list[CancelledRun]]:
    """Insert a pending run on its (locked) thread, applying the multitask strategy; commits.

    Returns the row and the in-flight runs the strategy cancelled (running ones still need their signal).
    """
    stamp = thread_sync.run_stamp(new.graph_id, new.assistant_id)
    if new.fresh_thread:  # a stateless run's new thread: nobody else can see it, nothing runs on it
        inflight: list[RunRow] = []
        metadata = {**stamp, **new.thread_metadata}
        if not matches(metadata, new.thread_filters):
            raise NotFoundError(f"Thread {new.thread_id} not found")
        await thread_sync.create_thread(session, new.thread_id, metadata)
    else:
        await _lock_thread(session, new, stamp)
        inflight = await _inflight(session, new.thread_id)
    action = plan_multitask(new.multitask_strategy, has_inflight=bool(inflight))
    if action == "reject":
        raise ConflictError(
            "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."
        )
    cancelled = await _cancel_rows(session, inflight, action, origin=origin) if action is not None else []
    now = utcnow()
    row = RunRow(
        run_id=new.run_id,
        thread_id=new.thread_id,
        assistant_id=new.assistant_id,
        status="pending",
        metadata_=new.metadata,
        kwargs=new.kwargs,
        multitask_strategy=new.multitask_strategy,
        temporary=new.temporary,
        reserved_for=new.reserved_for,
        available_at=now + timedelta(seconds=new.after_seconds),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    if not new.fresh_thread:
        await thread_sync.mark_busy(session, new.thread_id, stamp)
    await notify(session, CHANNEL_QUEUED, origin=origin, body="delayed" if new.after_seconds > 0 else "")
    await session.commit()
    return row, cancelled


async def _lock_thread(session: AsyncSession, new: NewRun, stamp: dict[str, Any]) -> None:
    """Lock the run's thread (creating it for `if_not_exists="create"`); 404 when it is missing or hidden."""
    thread = await thread_sync.lock_thread(session, new.thread_id)
    if thread is None:
        if not new.create_thread:
            raise NotFoundError(f"Thread {new.thread_id} not found")
        await thread_sync.create_thread(session, new.thread_id, {**stamp, **new.thread_metadata})
        thread = await thread_sync.lock_thread(session, new.thread_id)
    if thread is None or not matches(thread.metadata_, new.thread_filters):
        raise NotFoundError(f"Thread {new.thread_id} not found")


async def _inflight(session: AsyncSession, thread_id: uuid.UUID) -> list[RunRow]:
    stmt = (
        select(RunRow)
        .where(RunRow.thread_id == thread_id, RunRow.status.in_(INFLIGHT))
        .order_by(RunRow.created_at)
        .with_for_update()
    )
    return list((await session.scalars(stmt)).all())


async def _cancel_rows(
    session: AsyncSession, rows: Sequence[RunRow], action: str, *, origin: str
) -> list[CancelledRun]:
    """Pending runs end here (`interrupted`, or deleted on rollback); running ones get a NOTIFY."""
    cancelled: list[CancelledRun] = []
    for row in rows:
        cancelled.append(CancelledRun(row.run_id, row.thread_id, row.status))
        if row.status == "running":
            await notify(session, CHANNEL_CANCEL, origin=origin, body=f"{row.run_id}:{action}")
        elif action == "rollback":
            await session.execute(delete(RunRow).where(RunRow.run_id == row.run_id))
        else:
            await session.execute(
                update(RunRow).where(RunRow.run_id == row.run_id).values(status="interrupted", updated_at=utcnow())
            )
        if row.status == "pending":
            await notify(session, CHANNEL_DONE, origin=origin, body=str(row.run_id))
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
    stmt = select(RunRow).where(RunRow.status.in_([s for s in statuses if s in INFLIGHT]))
    if run_ids is not None:
        stmt = stmt.where(RunRow.run_id.in_(run_ids))
    if thread_id is not None:
        stmt = stmt.where(RunRow.thread_id == thread_id)
    rows = list((await session.scalars(stmt.order_by(RunRow.created_at).with_for_update())).all())
    cancelled = await _cancel_rows(session, rows, action, origin=origin)
    for affected in {item.thread_id for item in cancelled if item.status == "pending"}:
        await thread_sync.settle(session, affected)
    await session.commit()
    return cancelled


async def stop_thread_runs(session: AsyncSession, thread_id: uuid.UUID, *, origin: str) -> None:
    """The thread is being deleted (with its runs, in this transaction): stop its running runs wherever they
    execute, and tell the followers of its pending ones that they ended. Sent when the caller commits."""
    await thread_sync.lock_thread(session, thread_id)  # thread before runs, the order run creation locks them in
    for row in await _inflight(session, thread_id):
        if row.status == "running":
            await notify(session, CHANNEL_CANCEL, origin=origin, body=f"{row.run_id}:interrupt")
        await notify(session, CHANNEL_DONE, origin=origin, body=str(row.run_id))


async def claim_next_run(session: AsyncSession, worker_id: str, *, lease_seconds: float) -> RunRow | None:
    """Take the oldest claimable run for this worker (`running`, leased, attempt + 1); commits."""
    stmt = select(RunRow).from_statement(text(CLAIM_NEXT_RUN))
    params = {"worker_id": worker_id, "lease_seconds": lease_seconds, "affinity_seconds": AFFINITY_SECONDS}
    row = (await session.scalars(stmt, params)).one_or_none()
    await session.commit()
    return row


async def reap_expired_leases(
    session: AsyncSession, *, origin: str, max_attempts: int, batch: int = 100
) -> list[RunRow]:
    """Put runs whose lease expired back in the queue, or end them `error` after `max_attempts`; commits.

    Threads of the runs that ended are settled (or deleted, for throwaway threads); returns the reaped rows.
    """
    stmt = select(RunRow).from_statement(text(REAP_EXPIRED_LEASES)).execution_options(populate_existing=True)
    rows = list((await session.scalars(stmt, {"max_attempts": max_attempts, "batch": batch})).all())
    if not rows:
        await session.commit()
        return rows
    for row in rows:
        if row.status != "error":
            continue
        await notify(session, CHANNEL_DONE, origin=origin, body=str(row.run_id))
        if row.temporary:
            await thread_sync.delete_thread(session, row.thread_id)
        else:
            await thread_sync.record_run_end(session, row.thread_id, None, error=row.error)
    await notify(session, CHANNEL_QUEUED, origin=origin)
    await session.commit()
    return rows


async def sweep_run_events(session: AsyncSession, *, ttl_seconds: float, batch: int = 5000) -> int:
    """Drop up to `batch` kept events of runs that ended more than `ttl_seconds` ago; commits. Returns how many."""
    result = await session.execute(text(SWEEP_RUN_EVENTS), {"ttl_seconds": ttl_seconds, "batch": batch})
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


async def next_available_at(session: AsyncSession) -> datetime | None:
    """When the earliest delayed (`after_seconds`) pending run becomes claimable."""
    stmt = select(func.min(RunRow.available_at)).where(RunRow.status == "pending", RunRow.available_at > func.now())
    return await session.scalar(stmt)


async def extend_leases(session: AsyncSession, worker_id: str, *, lease_seconds: float) -> set[uuid.UUID]:
    """Heartbeat: push back the lease of every run this worker executes; commits. Returns the runs it still
    holds (a run missing there was reaped after its lease expired, and may execute elsewhere now)."""
    result = await session.execute(text(EXTEND_LEASES), {"worker_id": worker_id, "lease_seconds": lease_seconds})
    held = set(result.scalars().all())
    await session.commit()
    return held


def _held_by(run_id: uuid.UUID, worker_id: str) -> ColumnElement[bool]:
    """The run is still this worker's: not reaped and claimed elsewhere, not deleted with its thread."""
    return and_(RunRow.run_id == run_id, RunRow.worker_id == worker_id, RunRow.status == "running")


async def finish_run(
    session: AsyncSession,
    run_id: uuid.UUID,
    status: str,
    *,
    origin: str,
    output: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> bool:
    """Record how the run ended and wake whoever waits for it or for its thread (commit is the caller's).

    False, and nothing recorded, when this worker (`origin`) no longer holds the run.
    """
    result = await session.execute(
        update(RunRow)
        .where(_held_by(run_id, origin))
        .values(status=status, output=output, error=error, worker_id=None, lease_expires_at=None, updated_at=utcnow())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return False
    await notify(session, CHANNEL_DONE, origin=origin, body=str(run_id))
    await notify(session, CHANNEL_QUEUED, origin=origin)
    return True


async def delete_run_row(session: AsyncSession, run_id: uuid.UUID, *, origin: str) -> bool:
    """A rolled-back run disappears (commit is the caller's); False when this worker no longer holds it."""
    result = await session.execute(delete(RunRow).where(_held_by(run_id, origin)))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return False
    await notify(session, CHANNEL_DONE, origin=origin, body=str(run_id))
    await notify(session, CHANNEL_QUEUED, origin=origin)
    return True


async def requeue(session: AsyncSession, run_ids: Sequence[uuid.UUID], *, origin: str) -> None:
    """Hand back runs this process stops executing (shutdown): pending again, for any process to resume from
    their last checkpoint; commits."""
    if not run_ids:
        return
    await session.execute(
        update(RunRow)
        .where(RunRow.run_id.in_(run_ids), RunRow.status == "running", RunRow.worker_id == origin)
        .values(status="pending", worker_id=None, reserved_for=None, lease_expires_at=None, updated_at=utcnow())
    )
    await notify(session, CHANNEL_QUEUED, origin=origin)
    await session.commit()


async def get_run(session: AsyncSession, run_id: uuid.UUID, *, thread_id: uuid.UUID | None = None) -> RunRow | None:
    """The run as stored now (never a stale copy from the session's identity map)."""
    stmt = select(RunRow).where(RunRow.run_id == run_id).execution_options(populate_existing=True)
    if thread_id is not None:
        stmt = stmt.where(RunRow.thread_id == thread_id)
    return await session.scalar(stmt)


async def list_runs(
    session: AsyncSession, thread_id: uuid.UUID, *, limit: int, offset: int, status: str | None
) -> list[RunRow]:
    """A thread's runs, newest first."""
    stmt = select(RunRow).where(RunRow.thread_id == thread_id)
    if status is not None:
        stmt = stmt.where(RunRow.status == status)
    stmt = stmt.order_by(RunRow.created_at.desc(), RunRow.run_id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all())


async def delete_finished_run(session: AsyncSession, run_id: uuid.UUID, thread_id: uuid.UUID) -> None:
    """Delete a run that is no longer in flight; commits."""
    row = await get_run(session, run_id, thread_id=thread_id)
    if row is None:
        raise NotFoundError(f"Run {run_id} not found")
    if row.status in INFLIGHT:
        raise ConflictError(f"Run {run_id} is {row.status}; cancel it before deleting it")
    await session.execute(delete(RunRow).where(RunRow.run_id == run_id))
    await session.commit()
