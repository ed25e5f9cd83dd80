"""The run lifecycle's effect on its thread row: created on demand, `busy` while runs are in flight, and once
the last one ends, the cached `status`, `values`, `interrupts` and `error` of its latest checkpoint."""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.types import StateSnapshot
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aegra.db.models import Thread as ThreadRow
from aegra.db.models import utcnow
from aegra.db.repositories.runs import RunRepository
from aegra.db.repositories.threads import LOCK_ONLY, ThreadRepository
from aegra.graphs.snapshots import interrupts_by_task, thread_status_after_run, values_of


def run_stamp(graph_id: str, assistant_id: uuid.UUID) -> dict[str, Any]:
    """What a run writes into its thread's metadata (Agent Chat UI searches threads by `graph_id`)."""
    return {"graph_id": graph_id, "assistant_id": str(assistant_id)}


async def lock_thread(session: AsyncSession, thread_id: uuid.UUID) -> ThreadRow | None:
    """The thread row, locked until the transaction ends (serializes run creation per thread)."""
    return await ThreadRepository(session).lock(thread_id)


async def lock_thread_only(session: AsyncSession, thread_id: uuid.UUID) -> None:
    """Lock the thread row until the transaction ends, without reading it."""
    await ThreadRepository(session).lock_only(thread_id)


async def lock_thread_row(conn: AsyncConnection, thread_id: uuid.UUID) -> None:
    """`lock_thread_only` on a connection in a transaction, without an ORM session."""
    await conn.execute(LOCK_ONLY, {"thread_id": thread_id})


async def create_thread(session: AsyncSession, thread_id: uuid.UUID, metadata: dict[str, Any]) -> bool:
    """Create the `busy` thread a run names (`if_not_exists="create"`); False when a concurrent create won."""
    return await ThreadRepository(session).create_for_run(thread_id, metadata)


async def mark_busy(session: AsyncSession, thread_id: uuid.UUID, stamp: dict[str, Any]) -> None:
    """A run was queued on the thread: `busy`, and stamped with the run's graph and assistant."""
    await ThreadRepository(session).mark_busy(thread_id, stamp)


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
    fields: dict[str, Any] = {"updated_at": utcnow(), "error": error}
    if snapshot is not None:
        fields |= {"values": values_of(snapshot), "interrupts": interrupts_by_task(snapshot)}
        fields["state_updated_at"] = fields["updated_at"]
    if await RunRepository(session).has_inflight(thread_id):
        fields["status"] = "busy"
    elif interrupted:
        fields["status"] = "interrupted"
    else:
        fields["status"] = thread_status_after_run(snapshot, errored=error is not None and not interrupted)
    await ThreadRepository(session).update_fields(thread_id, fields)


def ending_fields(
    snapshot: StateSnapshot | None, *, error: dict[str, Any] | None, interrupted: bool = False
) -> dict[str, Any]:
    """What `endings.finish_run` caches on the thread of a run that ended (see `record_run_end`); the statement
    keeps the thread `busy` while other runs are in flight on it."""
    status = "interrupted" if interrupted else thread_status_after_run(snapshot, errored=error is not None)
    return {
        "thread_status": str(status),
        "thread_error": error,
        "has_snapshot": snapshot is not None,
        "values": None if snapshot is None else values_of(snapshot),
        "interrupts": None if snapshot is None else interrupts_by_task(snapshot),
    }


async def settle(session: AsyncSession, thread_id: uuid.UUID) -> None:
    """Queued runs were cancelled before starting: without runs in flight, fall back to the cached state."""
    if await RunRepository(session).has_inflight(thread_id):
        return
    threads = ThreadRepository(session)
    thread = await threads.get_one_or_none(thread_id=thread_id)
    if thread is None or thread.status != "busy":
        return
    status = "error" if thread.error else "interrupted" if thread.interrupts else "idle"
    await threads.update_fields(thread_id, {"status": status, "updated_at": utcnow()})


async def thread_exists(session: AsyncSession, thread_id: uuid.UUID) -> bool:
    """Whether the thread row is still there (it may be deleted while one of its runs executes)."""
    return await ThreadRepository(session).exists(thread_id=thread_id)


async def delete_thread(session: AsyncSession, thread_id: uuid.UUID) -> None:
    """Remove a stateless run's throwaway thread (its runs and their events go with it)."""
    await ThreadRepository(session).delete_all([thread_id])
