"""Run rows as a resource: read, listed per thread, deleted. The queue's own statements (claims, leases, the
reaper, cancellation) live in `aegra.db.queue`."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from advanced_alchemy.filters import LimitOffset, OrderBy
from sqlalchemy import ColumnElement, exists, select

from aegra.auth.filters import Filters, metadata_clause
from aegra.db.models import Run, Thread
from aegra.db.repositories.base import FRESH, Repository
from aegra.schemas.status import INFLIGHT


class RunRepository(Repository[Run]):
    model_type = Run
    id_attribute = "run_id"

    async def get_fresh(self, run_id: uuid.UUID, *, thread_id: uuid.UUID | None = None) -> Run | None:
        """The run as stored now (never a stale copy from the session's identity map), on `thread_id` if given."""
        on_thread: list[ColumnElement[bool]] = [] if thread_id is None else [Run.thread_id == thread_id]
        return await self.get_one_or_none(*on_thread, run_id=run_id, execution_options=FRESH)

    async def list_for_thread(
        self, thread_id: uuid.UUID, *, limit: int, offset: int, status: str | None = None
    ) -> list[Run]:
        """A thread's runs, newest first."""
        by_status: list[ColumnElement[bool]] = [] if status is None else [Run.status == status]
        return await self.get_many(
            Run.thread_id == thread_id,
            *by_status,
            OrderBy("created_at", "desc"),
            OrderBy("run_id", "desc"),
            LimitOffset(limit=limit, offset=offset),
        )

    async def has_inflight(self, thread_id: uuid.UUID) -> bool:
        """Whether a run on the thread is pending or running."""
        stmt = select(exists().where(Run.thread_id == thread_id, Run.status.in_(INFLIGHT)))
        return bool(await self.session.scalar(stmt))

    async def last_id(self, thread_id: uuid.UUID) -> uuid.UUID | None:
        """The id of the run last queued on the thread (None: it has none)."""
        stmt = select(Run.run_id).where(Run.thread_id == thread_id).order_by(Run.created_at.desc(), Run.run_id.desc())
        return await self.session.scalar(stmt.limit(1))

    async def ids_on_visible_threads(self, statuses: Collection[str], filters: Filters) -> list[uuid.UUID]:
        """Ids of the runs with `statuses` on threads the auth `filters` let the caller see."""
        stmt = (
            select(Run.run_id)
            .join(Thread, Thread.thread_id == Run.thread_id)
            .where(Run.status.in_(list(statuses)), metadata_clause(Thread.metadata_, filters))
        )
        return list((await self.session.scalars(stmt)).all())
