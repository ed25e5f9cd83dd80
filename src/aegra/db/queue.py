"""Storage of the run queue: every statement the queue executes (claims, leases, the reaper, cancellation,
NOTIFY, the kept events of runs), named here (a run's insert and ending in `aegra.db.run_lifecycle`), and
`QueueStorage`, which executes them in the caller's transaction. What to do with the rows (multitask rules, what a
notice means) is `aegra.runs`' business."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Delete,
    Executable,
    LargeBinary,
    Select,
    Text,
    Update,
    Uuid,
    and_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aegra.db.models import Run, RunEvent, utcnow
from aegra.db.repositories.base import AnyResult, affected_rows
from aegra.db.run_lifecycle import (
    FINISH_RUN_STMT,
    INSERT_RUN_ON_NEW_THREAD_STMT,
    INSERT_RUN_ON_THREAD_STMT,
    INSERT_RUN_STMT,
    run_values,
)
from aegra.schemas.status import INFLIGHT

# The oldest claimable runs, up to `:limit` of them in one statement (a worker claims as many as it has room for).
# A thread runs one run at a time, oldest first: a pending run waits for every run on its thread that is running or
# was created before it, so a batch holds at most one run per thread. `reserved_for` names the process a run is
# reserved for (a client of that process follows it), `worker_id` the one executing it. MATERIALIZED: the locked
# rows are chosen once, however the planner joins them.
CLAIM_RUNS: Final = """
WITH claimable AS MATERIALIZED (
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
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE runs
SET status = 'running', attempt = runs.attempt + 1, worker_id = :worker_id,
    lease_expires_at = now() + make_interval(secs => :lease_seconds), updated_at = now()
FROM claimable
WHERE runs.run_id = claimable.run_id
RETURNING runs.*
"""

# Only the runs the worker still executes: one whose ending it could not record (the database was down) must let
# its lease expire, so the reaper queues it again instead of it staying `running` for ever.
EXTEND_LEASES: Final = """
UPDATE runs SET lease_expires_at = now() + make_interval(secs => :lease_seconds)
WHERE worker_id = :worker_id AND status = 'running' AND run_id = ANY(:run_ids)
RETURNING run_id
"""

# Runs whose process stopped heartbeating, unlocked: the reaper locks the threads of those it ends first.
EXPIRED_LEASES: Final = """
SELECT run_id, thread_id, attempt FROM runs
WHERE status = 'running' AND lease_expires_at < now()
ORDER BY lease_expires_at
LIMIT :batch
"""

# Those of them still expired: back to the queue (the next attempt resumes from the run's last checkpoint), or
# `error` once they used their attempts. Several processes may reap at once: SKIP LOCKED.
REAP_EXPIRED_LEASES: Final = """
WITH expired AS MATERIALIZED (
    SELECT run_id FROM runs
    WHERE run_id = ANY(:run_ids) AND status = 'running' AND lease_expires_at < now()
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
      AND NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.run_id = e.run_id AND r.status = ANY(:inflight))
    LIMIT :batch
))
"""

# The batches of events of one or more runs, and one NOTIFY per run, in one statement (atomic on its own: no
# transaction needed). A data-modifying CTE runs once, to completion, whether or not the query reads it.
STORE_BATCHES: Final = """
WITH stored AS (
    INSERT INTO run_events (run_id, seq, event, data)
    SELECT batch.run_id, batch.seq, batch.event, batch.data
    FROM unnest(CAST(:run_ids AS uuid[]), CAST(:seqs AS bigint[]), CAST(:events AS text[]), CAST(:datas AS bytea[]))
        AS batch(run_id, seq, event, data)
)
SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload
"""

NOTIFY: Final = "SELECT pg_notify(:channel, :payload)"
STORE_BATCHES_STMT: Final = text(STORE_BATCHES).bindparams(
    bindparam("run_ids", type_=ARRAY(Uuid())),
    bindparam("seqs", type_=ARRAY(BigInteger())),
    bindparam("events", type_=ARRAY(Text())),
    bindparam("datas", type_=ARRAY(LargeBinary())),
    bindparam("payloads", type_=ARRAY(Text())),
)
RUNS_BY_STATUS: Final = "SELECT status, count(*) FROM runs GROUP BY status"
READY_RUNS: Final = "SELECT count(*) FROM runs WHERE status = 'pending' AND available_at <= now()"


def inflight_runs(thread_id: uuid.UUID) -> Select[Run]:
    """A thread's pending and running runs, oldest first, locked (the multitask rules act on them)."""
    stmt = select(Run).where(Run.thread_id == thread_id, Run.status.in_(INFLIGHT))
    return stmt.order_by(Run.created_at).with_for_update()


def _cancellable(
    stmt: Select[Any], statuses: Collection[str], *, run_ids: Sequence[uuid.UUID] | None, thread_id: uuid.UUID | None
) -> Select[Any]:
    stmt = stmt.where(Run.status.in_([status for status in statuses if status in INFLIGHT]))
    if run_ids is not None:
        stmt = stmt.where(Run.run_id.in_(run_ids))
    if thread_id is not None:
        stmt = stmt.where(Run.thread_id == thread_id)
    return stmt


def cancellable_runs(
    statuses: Collection[str], *, run_ids: Sequence[uuid.UUID] | None, thread_id: uuid.UUID | None
) -> Select[Any]:
    """The in-flight runs with `statuses` (among `run_ids`, on `thread_id`, when given), oldest first, locked."""
    stmt = _cancellable(select(Run), statuses, run_ids=run_ids, thread_id=thread_id)
    return stmt.order_by(Run.created_at).with_for_update()


def cancellable_threads(
    statuses: Collection[str], *, run_ids: Sequence[uuid.UUID] | None, thread_id: uuid.UUID | None
) -> Select[Any]:
    """The threads of those runs, unlocked: the caller locks them first, the order run creation locks them in."""
    return _cancellable(select(Run.thread_id).distinct(), statuses, run_ids=run_ids, thread_id=thread_id)


def interrupt_pending_run(run_id: uuid.UUID) -> Update:
    return update(Run).where(Run.run_id == run_id).values(status="interrupted", updated_at=utcnow())


def delete_run(run_id: uuid.UUID) -> Delete:
    return delete(Run).where(Run.run_id == run_id)


def held_by(run_id: uuid.UUID, worker_id: str) -> ColumnElement[bool]:
    """The run is still this worker's: not reaped and claimed elsewhere, not deleted with its thread."""
    return and_(Run.run_id == run_id, Run.worker_id == worker_id, Run.status == "running")


def delete_held_run(run_id: uuid.UUID, worker_id: str) -> Delete:
    return delete(Run).where(held_by(run_id, worker_id))


def requeue_held_runs(run_ids: Sequence[uuid.UUID], worker_id: str) -> Update:
    """Back to `pending` (unreserved, unleased): the runs this worker executes among `run_ids`."""
    return (
        update(Run)
        .where(Run.run_id.in_(run_ids), Run.status == "running", Run.worker_id == worker_id)
        .values(status="pending", worker_id=None, reserved_for=None, lease_expires_at=None, updated_at=utcnow())
    )


def next_available_at() -> Select[datetime | None]:
    """When the earliest delayed (`after_seconds`) pending run becomes claimable."""
    return select(func.min(Run.available_at)).where(Run.status == "pending", Run.available_at > func.now())


def events_after(run_id: uuid.UUID, after_seq: int) -> Select[int, str, bytes]:
    return (
        select(RunEvent.seq, RunEvent.event, RunEvent.data)
        .where(RunEvent.run_id == run_id, RunEvent.seq > after_seq)
        .order_by(RunEvent.seq)
    )


def last_event_seq(run_id: uuid.UUID) -> Select[int]:
    return select(func.coalesce(func.max(RunEvent.seq), -1)).where(RunEvent.run_id == run_id)


class QueueStorage:
    """Executes the queue's statements on the caller's session (or, for events and counts, a connection) inside
    the caller's transaction; never commits. `_execute` is the one way in."""

    def __init__(self, conn: AsyncSession | AsyncConnection) -> None:
        self.conn = conn

    async def _execute(
        self, statement: Executable | str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> AnyResult:
        stmt = text(statement) if isinstance(statement, str) else statement
        return await self.conn.execute(stmt, params)

    async def _runs(self, sql: str, params: Mapping[str, Any], *, fresh: bool = False) -> list[Run]:
        """Run rows returned by a raw statement (`fresh`: overwrite the session's copies of them)."""
        stmt = select(Run).from_statement(text(sql))
        if fresh:
            stmt = stmt.execution_options(populate_existing=True)
        return list((await self._execute(stmt, params)).scalars().all())

    async def notify(self, channel: str, payload: str) -> None:
        """A NOTIFY, delivered when the transaction commits."""
        await self._execute(NOTIFY, {"channel": channel, "payload": payload})

    async def claim(self, worker_id: str, *, limit: int, lease_seconds: float, affinity_seconds: float) -> list[Run]:
        """Up to `limit` runs, oldest first (the order they were created in)."""
        params = {
            "worker_id": worker_id,
            "limit": limit,
            "lease_seconds": lease_seconds,
            "affinity_seconds": affinity_seconds,
        }
        rows = await self._runs(CLAIM_RUNS, params)
        return sorted(rows, key=lambda row: (row.created_at, row.run_id))

    async def extend_leases(
        self, worker_id: str, run_ids: Collection[uuid.UUID], *, lease_seconds: float
    ) -> set[uuid.UUID]:
        """The runs among `run_ids` whose lease was extended (those this worker still holds)."""
        stmt = text(EXTEND_LEASES).bindparams(bindparam("run_ids", type_=ARRAY(Uuid())))
        params = {"worker_id": worker_id, "run_ids": list(run_ids), "lease_seconds": lease_seconds}
        return set((await self._execute(stmt, params)).scalars().all())

    async def expired_leases(self, *, batch: int) -> list[tuple[uuid.UUID, uuid.UUID, int]]:
        """(run id, thread id, attempt) of up to `batch` runs whose lease expired, unlocked."""
        rows = (await self._execute(EXPIRED_LEASES, {"batch": batch})).all()
        return [(run_id, thread_id, attempt) for run_id, thread_id, attempt in rows]

    async def reap_expired(self, run_ids: Sequence[uuid.UUID], *, max_attempts: int) -> list[Run]:
        """Re-queue or end those of `run_ids` still expired (and not being reaped elsewhere)."""
        stmt = select(Run).from_statement(
            text(REAP_EXPIRED_LEASES).bindparams(bindparam("run_ids", type_=ARRAY(Uuid())))
        )
        params = {"run_ids": list(run_ids), "max_attempts": max_attempts}
        return list((await self._execute(stmt.execution_options(populate_existing=True), params)).scalars().all())

    async def sweep_events(self, *, ttl_seconds: float, batch: int) -> int:
        params = {"ttl_seconds": ttl_seconds, "batch": batch, "inflight": list(INFLIGHT)}
        result = await self._execute(SWEEP_RUN_EVENTS, params)
        return affected_rows(result)

    async def next_available_at(self) -> datetime | None:
        return (await self._execute(next_available_at())).scalar()

    async def inflight(self, thread_id: uuid.UUID) -> list[Run]:
        return list((await self._execute(inflight_runs(thread_id))).scalars().all())

    async def cancellable(
        self, statuses: Collection[str], *, run_ids: Sequence[uuid.UUID] | None, thread_id: uuid.UUID | None
    ) -> list[Run]:
        stmt = cancellable_runs(statuses, run_ids=run_ids, thread_id=thread_id)
        return list((await self._execute(stmt)).scalars().all())

    async def cancellable_threads(
        self, statuses: Collection[str], *, run_ids: Sequence[uuid.UUID] | None, thread_id: uuid.UUID | None
    ) -> list[uuid.UUID]:
        stmt = cancellable_threads(statuses, run_ids=run_ids, thread_id=thread_id)
        return sorted((await self._execute(stmt)).scalars().all())

    async def interrupt_pending(self, run_id: uuid.UUID) -> None:
        await self._execute(interrupt_pending_run(run_id))

    async def delete(self, run_id: uuid.UUID) -> None:
        await self._execute(delete_run(run_id))

    async def insert_run(self, run: Run, assistant: tuple[int, datetime], params: Mapping[str, Any]) -> bool:
        """Queue `run` with a NOTIFY (`params`: stamp, mark_busy, channel, payload); False, and nothing done, when
        the assistant (`version`, `updated_at`) changed since it was read."""
        result = await self._execute(INSERT_RUN_STMT, run_values(run, assistant) | dict(params))
        return result.first() is not None

    async def insert_run_on_new_thread(
        self, run: Run, assistant: tuple[int, datetime], params: Mapping[str, Any]
    ) -> bool:
        """Create the run's (new, `busy`) thread, queue the run, NOTIFY (`params`: thread_metadata, channel,
        payload); False, and nothing done, when the assistant changed since it was read."""
        result = await self._execute(INSERT_RUN_ON_NEW_THREAD_STMT, run_values(run, assistant) | dict(params))
        return result.first() is not None

    async def insert_run_on_thread(
        self, run: Run, assistant: tuple[int, datetime], params: Mapping[str, Any]
    ) -> tuple[bool, bool, bool]:
        """INSERT_RUN_ON_THREAD (`params`: stamp, create_thread, thread_metadata, channel, payload): whether the
        thread was found (or created), whether the assistant is still as read, whether the run was queued."""
        found, current, queued, _ = (
            await self._execute(INSERT_RUN_ON_THREAD_STMT, run_values(run, assistant) | dict(params))
        ).one()
        return bool(found), bool(current), bool(queued)

    async def finish_and_sync(self, params: Mapping[str, Any]) -> bool:
        """FINISH_RUN; False, and nothing recorded, when the worker no longer holds the run."""
        return (await self._execute(FINISH_RUN_STMT, params)).first() is not None

    async def delete_held(self, run_id: uuid.UUID, worker_id: str) -> bool:
        """False, and nothing deleted, when `worker_id` no longer holds the run."""
        result = await self._execute(delete_held_run(run_id, worker_id))
        return affected_rows(result) > 0

    async def requeue(self, run_ids: Sequence[uuid.UUID], worker_id: str) -> None:
        await self._execute(requeue_held_runs(run_ids, worker_id))

    async def runs_by_status(self) -> dict[str, int]:
        return {status: count for status, count in (await self._execute(RUNS_BY_STATUS)).all()}

    async def ready_runs(self) -> int:
        """Pending runs ready to start (the queue's depth)."""
        return int((await self._execute(READY_RUNS)).scalar_one())

    async def events_after(self, run_id: uuid.UUID, after_seq: int) -> list[tuple[int, str, bytes]]:
        rows = (await self._execute(events_after(run_id, after_seq))).all()
        return [(seq, event, bytes(data)) for seq, event, data in rows]

    async def last_event_seq(self, run_id: uuid.UUID) -> int:
        return int((await self._execute(last_event_seq(run_id))).scalar_one())

    async def store_batches(
        self,
        batches: Sequence[tuple[uuid.UUID, Sequence[tuple[int, str, bytes]]]],
        *,
        channel: str,
        payloads: Sequence[str],
    ) -> None:
        """Insert the (seq, event, data) rows of several runs and NOTIFY each of `payloads` on `channel`, in one
        statement."""
        rows = [(run_id, *row) for run_id, batch in batches for row in batch]
        params = {
            "run_ids": [run_id for run_id, _, _, _ in rows],
            "seqs": [seq for _, seq, _, _ in rows],
            "events": [event for _, _, event, _ in rows],
            "datas": [data for _, _, _, data in rows],
            "channel": channel,
            "payloads": list(payloads),
        }
        await self._execute(STORE_BATCHES_STMT, params)
