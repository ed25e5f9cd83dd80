"""The run lifecycle's effect on its thread row: created on demand, `busy` while runs are in flight, and once
the last one ends, the cached `status`, `values`, `interrupts` and `error` of its latest checkpoint."""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.types import StateSnapshot
from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.db.models import Run as RunRow
from aegra.db.models import Thread as ThreadRow
from aegra.db.models import utcnow
from aegra.schemas.status import INFLIGHT
from aegra.services.state import interrupts_by_task, thread_status_after_run, values_of


def run_stamp(graph_id: str, assistant_id: uuid.UUID) -> dict[str, Any]:
    """What a run writes into its thread's metadata (Agent Chat UI searches threads by `graph_id`)."""
    return {"graph_id": graph_id, "assistant_id": str(assistant_id)}


async def lock_thread(session: AsyncSession, thread_id: uuid.UUID) -> ThreadRow | None:
    """The thread row, locked until the transaction ends (serializes run creation per thread)."""
    return await session.scalar(select(ThreadRow).where(ThreadRow.thread_id == thread_id).with_for_update())


async def create_thread(session: AsyncSession, thread_id: uuid.UUID, metadata: dict[str, Any]) -> None:
    """Create the thread a run names (`if_not_exists="create"`, stateless runs); a concurrent create wins."""
    now = utcnow()
    await session.execute(
        pg_insert(ThreadRow)
        .values(thread_id=thread_id, metadata_=metadata, status="busy", created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[ThreadRow.thread_id])
    )


async def mark_busy(session: AsyncSession, thread_id: uuid.UUID, stamp: dict[str, Any]) -> None:
    """A run was queued on the thread: `busy`, and stamped with the run's graph and assistant."""
    await session.execute(
        update(ThreadRow)
        .where(ThreadRow.thread_id == thread_id)
        .values(status="busy", metadata_=ThreadRow.metadata_.op("||")(stamp), updated_at=utcnow())
    )


async def _has_inflight_runs(session: AsyncSession, thread_id: uuid.UUID) -> bool:
    stmt = select(exists().where(RunRow.thread_id == thread_id, RunRow.status.in_(INFLIGHT)))
    return bool(await session.scalar(stmt))


async def record_run_end(
    session: AsyncSession,
    thread_id: uuid.UUID,
    snapshot: StateSnapshot | None,
    *,
    error: dict[str, Any] | None,
    interrupted: bool = False,
) -> None:
    """Cache the state the run left behind; the thread stays `busy` while other runs are queued on it.

    `error` is the failure (or the cancellation) to show on the thread; `interrupted` marks a run cancelled with
    `action="interrupt"`, which leaves the thread `interrupted` like langgraph-api.
    """
    values: dict[str, Any] = {"updated_at": utcnow(), "error": error}
    if snapshot is not None:
        values |= {"values": values_of(snapshot), "interrupts": interrupts_by_task(snapshot)}
        values["state_updated_at"] = values["updated_at"]
    if await _has_inflight_runs(session, thread_id):
        values["status"] = "busy"
    elif interrupted:
        values["status"] = "interrupted"
    else:
        values["status"] = thread_status_after_run(snapshot, errored=error is not None and not interrupted)
    await session.execute(update(ThreadRow).where(ThreadRow.thread_id == thread_id).values(**values))


async def settle(session: AsyncSession, thread_id: uuid.UUID) -> None:
    """Queued runs were cancelled before starting: without runs in flight, fall back to the cached state."""
    if await _has_inflight_runs(session, thread_id):
        return
    thread = await session.get(ThreadRow, thread_id)
    if thread is None or thread.status != "busy":
        return
    status = "error" if thread.error else "interrupted" if thread.interrupts else "idle"
    await session.execute(
        update(ThreadRow).where(ThreadRow.thread_id == thread_id).values(status=status, updated_at=utcnow())
    )


async def thread_exists(session: AsyncSession, thread_id: uuid.UUID) -> bool:
    """Whether the thread row is still there (it may be deleted while one of its runs executes)."""
    return bool(await session.scalar(select(exists().where(ThreadRow.thread_id == thread_id))))


async def delete_thread(session: AsyncSession, thread_id: uuid.UUID) -> None:
    """Remove a stateless run's throwaway thread (its runs and their events go with it)."""
    await session.execute(delete(ThreadRow).where(ThreadRow.thread_id == thread_id))
