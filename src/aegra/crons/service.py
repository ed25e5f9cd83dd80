"""Crons: create, read, update, delete and search schedules (firing lives in `scheduler.py`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.filters import Filters, matches
from aegra.crons.schedule import next_fire_time, validate_schedule, validate_timezone
from aegra.db.models import Cron as CronRow
from aegra.db.models import utcnow
from aegra.db.repositories.base import Filter
from aegra.db.repositories.crons import CronRepository
from aegra.db.repositories.threads import ThreadRepository
from aegra.errors import NotFoundError
from aegra.graphs.registry import GraphRegistry
from aegra.schemas.crons import Cron, CronCount, CronCreate, CronSearch, CronUpdate
from aegra.services.assistants import AssistantService
from aegra.services.pagination import convert_page
from aegra.services.serialization import to_schema as row_schema

# Where a cron created by an authenticated user keeps that user (server-set; no request field writes it).
CRON_USER_KEY = "auth_user"
# Fields of a PATCH body a `crons.update` auth handler sees (and may stamp, e.g. `metadata`).
CRON_UPDATE_FIELDS = ("schedule", "end_time", "enabled", "on_run_completed", "metadata")
# Fields of the create/update body that describe the runs a cron creates (kept in `payload`).
RUN_FIELDS = (
    "input", "metadata", "config", "context", "checkpoint_during", "interrupt_before", "interrupt_after", "webhook",
    "multitask_strategy", "stream_mode", "stream_subgraphs", "stream_resumable", "durability",
)  # fmt: skip


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def to_schema(row: CronRow) -> Cron:
    payload = {key: value for key, value in row.payload.items() if key != CRON_USER_KEY}
    return row_schema(row, Cron, user_id=row.user_id or "", payload=payload)


class CronService:
    """All reads and writes of crons for one request (one session)."""

    def __init__(self, session: AsyncSession, registry: GraphRegistry, *, auth: Authorizer = NO_AUTH) -> None:
        self.session = session
        self.registry = registry
        self.auth = auth
        self.assistants = AssistantService(session, registry)
        self.repository = CronRepository(session)
        self.threads = ThreadRepository(session)

    async def create(self, data: CronCreate, *, thread_id: uuid.UUID | None = None) -> Cron:
        schedule = validate_schedule(data.schedule)
        timezone = validate_timezone(data.timezone)
        assistant_id = self.assistants.resolve_id(data.assistant_id)
        cron_id = uuid.uuid4()
        payload = self._payload(data, cron_id=cron_id, assistant_id=assistant_id)
        value: dict[str, Any] = {
            "payload": payload,
            "schedule": schedule,
            "cron_id": cron_id,
            "thread_id": thread_id,
            "user_id": self.auth.user.identity if self.auth.user is not None else None,
            "end_time": _aware(data.end_time),
            "metadata": dict(data.metadata or {}),
        }
        await self.auth.authorize("crons", "create", value)
        if self.auth.user is not None:  # the cron's runs act for its creator (see `CronRunLauncher.authorizer`)
            payload[CRON_USER_KEY] = self.auth.user.to_record()
        assistant = await self.assistants.get_row(assistant_id)
        assistant_filters = await self.auth.assistant_filters(assistant.assistant_id, assistant.graph_id)
        if not matches(assistant.metadata_, assistant_filters):
            raise NotFoundError(f"Assistant {assistant_id} not found")
        if thread_id is not None:
            thread_filters = await self.auth.authorize("threads", "read", {"thread_id": thread_id})
            thread = await self.threads.get_one_or_none(thread_id=thread_id)
            if thread is None or not matches(thread.metadata_, thread_filters):
                raise NotFoundError(f"Thread {thread_id} not found")
        now = utcnow()
        row = CronRow(
            cron_id=cron_id,
            assistant_id=assistant.assistant_id,
            thread_id=thread_id,
            user_id=value["user_id"],
            schedule=schedule,
            timezone=timezone,
            end_time=_aware(data.end_time),
            payload=payload,
            metadata_=value["metadata"],
            enabled=True if data.enabled is None else data.enabled,
            on_run_completed=(data.on_run_completed or "delete") if thread_id is None else data.on_run_completed,
            next_run_date=next_fire_time(schedule, now, timezone),
            created_at=now,
            updated_at=now,
        )
        await self.repository.add(row)
        await self.session.commit()
        return to_schema(row)

    async def get_row(self, cron_id: uuid.UUID, *, filters: Filters | None = None) -> CronRow:
        """The cron; 404 when it does not exist or the auth `filters` hide it."""
        row = await self.repository.get_one_or_none(cron_id=cron_id)
        if row is None or not matches(row.metadata_, filters):
            raise NotFoundError(f"Cron {cron_id} not found")
        return row

    async def get(self, cron_id: uuid.UUID) -> Cron:
        filters = await self.auth.authorize("crons", "read", {"cron_id": cron_id})
        return to_schema(await self.get_row(cron_id, filters=filters))

    async def update(self, cron_id: uuid.UUID, data: CronUpdate) -> Cron:
        value: dict[str, Any] = {
            "cron_id": cron_id,
            **{name: getattr(data, name) for name in CRON_UPDATE_FIELDS if getattr(data, name) is not msgspec.UNSET},
        }
        filters = await self.auth.authorize("crons", "update", value)
        if "metadata" in value:  # a handler may stamp it
            data = msgspec.structs.replace(data, metadata=value["metadata"])
        row = await self.repository.lock(cron_id)
        if row is None or not matches(row.metadata_, filters):
            raise NotFoundError(f"Cron {cron_id} not found")
        payload = dict(row.payload)
        if data.assistant_id is not msgspec.UNSET:
            assistant = await self.assistants.get_row(self.assistants.resolve_id(data.assistant_id))
            row.assistant_id = assistant.assistant_id
            payload["assistant_id"] = str(assistant.assistant_id)
        if data.schedule is not msgspec.UNSET:
            row.schedule = validate_schedule(data.schedule)
            payload["schedule"] = row.schedule
        if data.timezone is not msgspec.UNSET:
            row.timezone = validate_timezone(data.timezone)
        if data.end_time is not msgspec.UNSET:
            row.end_time = _aware(data.end_time)
        if data.enabled is not msgspec.UNSET:
            row.enabled = data.enabled
        if data.on_run_completed is not msgspec.UNSET:
            row.on_run_completed = data.on_run_completed
        if data.metadata is not msgspec.UNSET:
            row.metadata_ = data.metadata
        for field in RUN_FIELDS:
            given: Any = getattr(data, field, msgspec.UNSET)
            if given is msgspec.UNSET:
                continue
            if given is None:
                payload.pop(field, None)
            else:
                payload[field] = given
        payload["config"] = self._with_cron_id(payload.get("config"), row.cron_id)
        row.payload = payload
        now = utcnow()
        row.next_run_date = next_fire_time(row.schedule, now, row.timezone)
        row.updated_at = now
        await self.session.commit()
        return to_schema(row)

    async def delete(self, cron_id: uuid.UUID) -> None:
        filters = await self.auth.authorize("crons", "delete", {"cron_id": cron_id})
        if not await self.repository.delete_visible(cron_id, filters):
            raise NotFoundError(f"Cron {cron_id} not found")
        await self.session.commit()

    async def search(self, query: CronSearch) -> OffsetPagination[Cron]:
        visible = await self._visible(query.assistant_id, query.thread_id, query.metadata, query.limit, query.offset)
        conditions = self._conditions(query.assistant_id, query.thread_id, query.metadata, query.enabled, visible)
        sort_by = query.sort_by or "created_at"
        page = await self.repository.page(
            *conditions, sort_by=sort_by, sort_order=query.sort_order, limit=query.limit, offset=query.offset
        )
        return convert_page(page, to_schema)

    async def count(self, query: CronCount) -> int:
        visible = await self._visible(query.assistant_id, query.thread_id, query.metadata, None, None)
        conditions = self._conditions(query.assistant_id, query.thread_id, query.metadata, None, visible)
        return await self.repository.count(*conditions)

    async def _visible(
        self,
        assistant_id: str | None,
        thread_id: uuid.UUID | None,
        metadata: dict[str, Any] | None,
        limit: int | None,
        offset: int | None,
    ) -> ColumnElement[bool] | None:
        """The crons a search may return: the `crons.search` filters on the cron, and the caller's thread filters
        (`threads.read` of the named thread, else `threads.search`) on the thread of a thread cron. None: all."""
        if not self.auth.enabled:
            return None
        value: dict[str, Any] = {"assistant_id": assistant_id, "thread_id": thread_id, "metadata": metadata or {}}
        if limit is not None:
            value |= {"limit": limit, "offset": offset}
        cron_filters = await self.auth.authorize("crons", "search", value)
        if thread_id is not None:
            thread_filters = await self.auth.authorize("threads", "read", {"thread_id": thread_id})
        else:
            thread_filters = await self.auth.authorize("threads", "search", {})
        return self.repository.visible(cron_filters, thread_filters)

    def _conditions(
        self,
        assistant_id: str | None,
        thread_id: uuid.UUID | None,
        metadata: dict[str, Any] | None,
        enabled: bool | None,
        visible: ColumnElement[bool] | None,
    ) -> list[Filter]:
        resolved = self.assistants.resolve_id(assistant_id) if assistant_id is not None else None
        return self.repository.conditions(
            assistant_id=resolved, thread_id=thread_id, metadata=metadata, enabled=enabled, visible=visible
        )

    def _payload(self, data: CronCreate, *, cron_id: uuid.UUID, assistant_id: uuid.UUID) -> dict[str, Any]:
        payload: dict[str, Any] = {"assistant_id": str(assistant_id), "schedule": data.schedule}
        for field in RUN_FIELDS:
            value = getattr(data, field)
            if value is not None:
                payload[field] = value
        payload["config"] = self._with_cron_id(payload.get("config"), cron_id)
        return payload

    @staticmethod
    def _with_cron_id(config: dict[str, Any] | None, cron_id: uuid.UUID) -> dict[str, Any]:
        config = dict(config or {})
        config["configurable"] = {**(config.get("configurable") or {}), "cron_id": str(cron_id)}
        return config
