"""Cron rows: CRUD and search for the API, and the scheduler's claim of the next due cron."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, true, update

from aegra.auth.filters import Filters, metadata_clause
from aegra.db.models import Cron, Thread
from aegra.db.repositories.base import Filter, Repository, affected_rows


class CronRepository(Repository[Cron]):
    model_type = Cron
    id_attribute = "cron_id"

    async def lock(self, cron_id: uuid.UUID) -> Cron | None:
        """The cron, locked until the transaction ends."""
        return await self.get_one_or_none(cron_id=cron_id, with_for_update=True)

    async def delete_visible(self, cron_id: uuid.UUID, filters: Filters | None) -> bool:
        """Delete the cron if the auth `filters` let the caller see it; whether it was deleted."""
        stmt = delete(Cron).where(Cron.cron_id == cron_id, metadata_clause(Cron.metadata_, filters))
        result = await self.session.execute(stmt)
        return affected_rows(result) > 0

    @staticmethod
    def visible(cron_filters: Filters | None, thread_filters: Filters | None) -> ColumnElement[bool]:
        """The crons a caller may see: `cron_filters` on the cron, `thread_filters` on the thread of a thread cron."""
        if not thread_filters:
            return metadata_clause(Cron.metadata_, cron_filters)
        thread_visible = exists().where(
            Thread.thread_id == Cron.thread_id, metadata_clause(Thread.metadata_, thread_filters)
        )
        return and_(metadata_clause(Cron.metadata_, cron_filters), or_(Cron.thread_id.is_(None), thread_visible))

    @staticmethod
    def conditions(
        *,
        assistant_id: uuid.UUID | None = None,
        thread_id: uuid.UUID | None = None,
        metadata: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
        visible: ColumnElement[bool] | None = None,
    ) -> list[Filter]:
        """What a cron search asks for: an assistant, a thread, `metadata` containment, enabled or not, and what the
        caller may see (`visible`)."""
        conditions: list[Filter] = [true() if visible is None else visible]
        if assistant_id is not None:
            conditions.append(Cron.assistant_id == assistant_id)
        if thread_id is not None:
            conditions.append(Cron.thread_id == thread_id)
        if metadata:
            conditions.append(Cron.metadata_.contains(dict(metadata)))
        if enabled is not None:
            conditions.append(Cron.enabled == enabled)
        return conditions

    # -- the scheduler -----------------------------------------------------------------------------------------

    async def any_due(self, now: datetime) -> bool:
        """Whether an enabled cron is due at `now` (no lock: the look an idle tick takes before claiming)."""
        due = exists().where(Cron.enabled, Cron.next_run_date.is_not(None), Cron.next_run_date <= now)
        return bool(await self.session.scalar(select(due)))

    async def claim_next_due(self, now: datetime) -> Cron | None:
        """Lock the cron due first at `now`; crons another scheduler holds are skipped."""
        stmt = (
            select(Cron)
            .where(Cron.enabled, Cron.next_run_date.is_not(None), Cron.next_run_date <= now)
            .order_by(Cron.next_run_date)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return await self.session.scalar(stmt)

    async def advance(self, cron_id: uuid.UUID, previous: datetime | None, upcoming: datetime) -> None:
        """Move the cron's next firing from `previous` to `upcoming` (unless it moved meanwhile)."""
        await self.session.execute(
            update(Cron).where(Cron.cron_id == cron_id, Cron.next_run_date == previous).values(next_run_date=upcoming)
        )
