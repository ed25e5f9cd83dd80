"""Thread rows: lookups (locked where a caller serialises with run creation), search, the run lifecycle's updates
of a thread's cached state, and the claims of the TTL sweep."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

import orjson
from advanced_alchemy.filters import LimitOffset, OrderBy
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from aegra.auth.filters import Filters, metadata_clause
from aegra.db.availability import DRIVER_ERRORS, driver_error
from aegra.db.models import Thread, utcnow
from aegra.db.repositories.base import FRESH, Repository, affected_rows

MINUTE: Final = literal_column("interval '1 minute'", type_=Interval())
# A new thread unless its id is taken, sent by asyncpg as it is: SQLAlchemy's statement execution around it (execution
# context, bind and result processing, two greenlet switches) was about 200 us of a threads.create's ~1.3 ms of CPU.
NEW_THREAD_COLUMNS: Final = (
    "thread_id",
    "metadata",
    "config",
    "status",
    "interrupts",
    "ttl_strategy",
    "ttl_minutes",
    "expires_at",
    "created_at",
    "updated_at",
    "state_updated_at",
)
JSONB_COLUMNS: Final = frozenset({"metadata", "config", "interrupts"})
INSERT_IF_ABSENT: Final = """
    INSERT INTO threads (thread_id, metadata, config, status, interrupts, ttl_strategy, ttl_minutes, expires_at,
                         created_at, updated_at, state_updated_at)
    VALUES ($1, $2::text::jsonb, $3::text::jsonb, $4, $5::text::jsonb, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (thread_id) DO NOTHING
    RETURNING thread_id
"""  # $n: the n-th of NEW_THREAD_COLUMNS; JSON as text, so asyncpg needs no jsonb codec


def json_text(value: Any) -> str:
    """JSON as the engine's serializer writes it (orjson, non-string keys allowed)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


LOCK_ONLY: Final = text("SELECT 1 FROM threads WHERE thread_id = :thread_id FOR UPDATE")
CREATE_FOR_RUN: Final = text(
    """
    INSERT INTO threads (thread_id, metadata, status, created_at, updated_at, state_updated_at)
    VALUES (:thread_id, CAST(:metadata AS jsonb), 'busy', :now, :now, :now)
    ON CONFLICT (thread_id) DO NOTHING
    RETURNING thread_id
    """
).bindparams(bindparam("metadata", type_=JSONB))


async def insert_new_thread(engine: AsyncEngine, values: Mapping[str, Any]) -> bool:
    """Insert a thread (`values`: every column but `values` and `error`, by column name) on a connection of its own
    (`engine` in autocommit: the statement is atomic on its own), without an ORM session; False, and nothing
    inserted, when one with its id exists. A driver error is raised as SQLAlchemy would (see `driver_error`)."""
    args = [json_text(values[name]) if name in JSONB_COLUMNS else values[name] for name in NEW_THREAD_COLUMNS]
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None  # a checked-out connection has its asyncpg connection
        try:
            row = await driver.fetchrow(INSERT_IF_ABSENT, *args)
        except DRIVER_ERRORS as exc:
            error = driver_error(exc)
            if error.connection_invalidated:
                await conn.invalidate(exc)
            raise error from exc
    return row is not None


class ExpiredThread(NamedTuple):
    """A thread past `expires_at`, and when it really expires (`ttl_minutes` after its last activity)."""

    thread_id: uuid.UUID
    strategy: str | None
    expiry: datetime


class ThreadRepository(Repository[Thread]):
    model_type = Thread
    id_attribute = "thread_id"

    async def get_fresh(self, thread_id: uuid.UUID) -> Thread | None:
        """The thread as stored now (never a stale copy from the session's identity map)."""
        return await self.get_one_or_none(thread_id=thread_id, execution_options=FRESH)

    async def lock(self, thread_id: uuid.UUID) -> Thread | None:
        """The thread, locked until the transaction ends (serialises state updates and run creation per thread)."""
        return await self.get_one_or_none(thread_id=thread_id, with_for_update=True, execution_options=FRESH)

    async def lock_only(self, thread_id: uuid.UUID) -> None:
        """Lock the thread without loading it (serialises with run creation, like `lock`)."""
        await self.session.execute(LOCK_ONLY, {"thread_id": thread_id})

    async def insert_if_absent(self, values: Mapping[str, Any]) -> Thread | None:
        """Insert a thread; None (and nothing inserted) when one with its id exists."""
        stmt = pg_insert(Thread).values(**values).on_conflict_do_nothing(index_elements=[Thread.thread_id])
        return await self.session.scalar(stmt.returning(Thread))

    async def delete_visible(self, thread_id: uuid.UUID, filters: Filters | None) -> bool:
        """Delete the thread if the auth `filters` let the caller see it; whether it was deleted."""
        stmt = delete(Thread).where(Thread.thread_id == thread_id, metadata_clause(Thread.metadata_, filters))
        result = await self.session.execute(stmt)
        return affected_rows(result) > 0

    async def delete_all(self, thread_ids: Collection[uuid.UUID]) -> None:
        """Delete the threads (their runs and run events go with them)."""
        await self.session.execute(delete(Thread).where(Thread.thread_id.in_(list(thread_ids))))

    async def visible_ids(self, thread_ids: Collection[uuid.UUID], filters: Filters | None) -> set[uuid.UUID]:
        """Those of the threads that exist and that the auth `filters` let the caller see."""
        stmt = select(Thread.thread_id).where(
            Thread.thread_id.in_(list(thread_ids)), metadata_clause(Thread.metadata_, filters)
        )
        return set((await self.session.scalars(stmt)).all())

    async def metadata_of(self, thread_id: uuid.UUID) -> dict[str, Any] | None:
        """The thread's metadata (None when there is no such thread), without loading the row."""
        return await self.session.scalar(select(Thread.metadata_).where(Thread.thread_id == thread_id))

    @staticmethod
    def conditions(
        *,
        metadata: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
        status: str | None = None,
        ids: Sequence[uuid.UUID] | None = None,
        filters: Filters | None = None,
    ) -> list[ColumnElement[bool]]:
        """What a thread search asks for: `metadata`/`values` containment, a status, ids, and the auth `filters`."""
        conditions = [metadata_clause(Thread.metadata_, filters)]
        if metadata:
            conditions.append(Thread.metadata_.contains(dict(metadata)))
        if values:
            conditions.append(Thread.values.contains(dict(values)))
        if status is not None:
            conditions.append(Thread.status == status)
        if ids:
            conditions.append(Thread.thread_id.in_(list(ids)))
        return conditions

    async def search(
        self, *conditions: ColumnElement[bool], sort_by: str, sort_order: str | None, limit: int, offset: int
    ) -> list[Thread]:
        """Matching threads in `sort_by` order (descending unless `sort_order` is "asc"; ties broken by id, newest
        first)."""
        order = [OrderBy(sort_by, "asc" if sort_order == "asc" else "desc")]
        if sort_by != "thread_id":
            order.append(OrderBy("thread_id", "desc"))
        return await self.get_many(*conditions, *order, LimitOffset(limit=limit, offset=offset))

    # -- the run lifecycle -------------------------------------------------------------------------------------

    async def create_for_run(self, thread_id: uuid.UUID, metadata: Mapping[str, Any]) -> bool:
        """Create the `busy` thread a run names (`if_not_exists="create"`); False when a concurrent create won."""
        now = utcnow()
        params = {"thread_id": thread_id, "metadata": dict(metadata), "now": now}
        return (await self.session.execute(CREATE_FOR_RUN, params)).first() is not None

    async def mark_busy(self, thread_id: uuid.UUID, stamp: Mapping[str, Any]) -> None:
        """`busy`, with `stamp` merged into the thread's metadata."""
        await self.session.execute(
            update(Thread)
            .where(Thread.thread_id == thread_id)
            .values(status="busy", metadata_=Thread.metadata_.op("||")(dict(stamp)), updated_at=utcnow())
        )

    async def update_fields(self, thread_id: uuid.UUID, fields: Mapping[str, Any]) -> None:
        """Set columns of one thread (its status and the state it caches)."""
        await self.session.execute(update(Thread).where(Thread.thread_id == thread_id).values(**fields))

    # -- the TTL sweep -----------------------------------------------------------------------------------------

    async def claim_expired(self, now: datetime, *, batch: int) -> list[ExpiredThread]:
        """Lock up to `batch` threads past `expires_at` that no run uses; rows another sweeper holds are skipped."""
        expiry = (Thread.updated_at + Thread.ttl_minutes * MINUTE).cast(DateTime(timezone=True))
        stmt = (
            select(Thread.thread_id, Thread.ttl_strategy, expiry)
            .where(Thread.expires_at <= now, Thread.ttl_minutes.is_not(None), Thread.status != "busy")
            .order_by(Thread.expires_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        return [ExpiredThread(*row) for row in (await self.session.execute(stmt)).all()]

    async def postpone_expiry(self, thread_id: uuid.UUID, expires_at: datetime) -> None:
        await self.update_fields(thread_id, {"expires_at": expires_at})

    async def renew_expiry(self, thread_ids: Collection[uuid.UUID]) -> None:
        """The threads expire again one TTL from now."""
        await self.session.execute(
            update(Thread)
            .where(Thread.thread_id.in_(list(thread_ids)))
            .values(expires_at=func.now() + Thread.ttl_minutes * MINUTE)
        )
