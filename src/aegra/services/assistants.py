"""Assistants: versioned graph configurations, plus one system assistant per served graph."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
import structlog
from advanced_alchemy.service import OffsetPagination
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.filters import Filters, matches
from aegra.db.models import Assistant as AssistantRow
from aegra.db.models import AssistantVersion, utcnow
from aegra.db.repositories.assistants import AssistantRepository, AssistantRowCache, AssistantVersionRepository
from aegra.errors import ConflictError, NotFoundError, UnprocessableError
from aegra.graphs.registry import GraphRegistry, system_assistant_id
from aegra.schemas.assistants import (
    Assistant,
    AssistantCount,
    AssistantCreate,
    AssistantSearch,
    AssistantUpdate,
    AssistantVersionsSearch,
)
from aegra.schemas.assistants import AssistantVersion as AssistantVersionSchema
from aegra.services.pagination import convert_page
from aegra.services.serialization import to_schema as row_schema

logger = structlog.get_logger(__name__)

SYSTEM_METADATA = {"created_by": "system"}
# Fields of a PATCH body an `assistants.update` auth handler sees (and may stamp, e.g. `metadata`).
UPDATABLE_FIELDS = ("graph_id", "config", "context", "metadata", "name", "description")
# What a version snapshot keeps of an assistant (and what setting a latest version copies back).
VERSIONED_FIELDS = ("graph_id", "name", "description", "config", "context", "metadata_")


def parse_assistant_id(raw: str, registry: GraphRegistry) -> uuid.UUID:
    """An assistant id from a path or body: a UUID, or a graph id naming that graph's system assistant."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        pass
    if raw in registry:
        return system_assistant_id(raw)
    raise UnprocessableError("Invalid assistant ID: must be a UUID or a graph id")


def reserved_error(assistant_id: uuid.UUID, graph_id: str) -> ConflictError:
    return ConflictError(f"Assistant id {assistant_id} is reserved for the system assistant of graph {graph_id!r}")


def mirror_context(config: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """langgraph-api mirrors `config.configurable` into an empty `context`."""
    if context:
        return context
    configurable = config.get("configurable")
    return dict(configurable) if isinstance(configurable, dict) else {}


def to_schema(row: AssistantRow) -> Assistant:
    return row_schema(row, Assistant)


def version_to_schema(row: AssistantVersion) -> AssistantVersionSchema:
    return row_schema(row, AssistantVersionSchema)


class AssistantService:
    """All reads and writes of assistants for one request (one session)."""

    def __init__(self, session: AsyncSession, registry: GraphRegistry, *, auth: Authorizer = NO_AUTH) -> None:
        self.session = session
        self.registry = registry
        self.auth = auth
        self.repository = AssistantRepository(session)
        self.versions_repository = AssistantVersionRepository(session)

    def resolve_id(self, raw: str) -> uuid.UUID:
        return parse_assistant_id(raw, self.registry)

    async def ensure_system_assistants(self) -> None:
        """Create the system assistant of every served graph (existing ones are left as they are).

        A row at a system id that is not that graph's system assistant was planted by a client while the graph
        was not served (nothing reserved the id then): it is removed, not adopted, so its owner cannot hold the
        system assistant of a graph added later.
        """
        for graph_id in self.registry.graph_ids():
            assistant_id = system_assistant_id(graph_id)
            for planted in await self.repository.remove_planted(assistant_id, graph_id, SYSTEM_METADATA):
                logger.warning(
                    "removed a client's assistant at a system assistant id",
                    graph_id=graph_id,
                    assistant_id=str(assistant_id),
                    its_graph_id=planted.graph_id,
                    its_name=planted.name,
                    its_metadata=planted.metadata,
                )
            await self.repository.insert_system(
                {
                    "assistant_id": assistant_id,
                    "graph_id": graph_id,
                    "name": self.registry.default_name(graph_id),
                    "description": self.registry.spec(graph_id).description,
                    "config": {},
                    "context": {},
                    "metadata": SYSTEM_METADATA,
                }
            )
        await self.session.commit()

    def reserved_for(self, assistant_id: uuid.UUID) -> str | None:
        """The served graph whose system assistant has this id, if any (clients may not create or move one there)."""
        return next((g for g in self.registry.graph_ids() if system_assistant_id(g) == assistant_id), None)

    async def get_row(self, assistant_id: uuid.UUID, *, filters: Filters | None = None) -> AssistantRow:
        """The assistant; 404 when it does not exist or the auth `filters` hide it."""
        row = await self.repository.get_one_or_none(assistant_id=assistant_id)
        if row is None or not matches(row.metadata_, filters):
            raise NotFoundError(f"Assistant {assistant_id} not found")
        return row

    async def get_row_for_run(self, assistant_id: uuid.UUID, cache: AssistantRowCache) -> AssistantRow:
        """The assistant a new run is built from: this process's copy when it has one (the run's insert checks that
        the copy is current), else read and kept; 404 when it does not exist."""
        row = cache.get(assistant_id)
        if row is None:
            row = await self.get_row(assistant_id)
            cache.put(row)
        return row

    async def get(self, raw_id: str) -> Assistant:
        assistant_id = self.resolve_id(raw_id)
        filters = await self.auth.authorize("assistants", "read", {"assistant_id": assistant_id})
        return to_schema(await self.get_row(assistant_id, filters=filters))

    async def create(self, data: AssistantCreate) -> Assistant:
        self.registry.spec(data.graph_id)  # 404 for an unknown graph
        assistant_id = data.assistant_id or uuid.uuid4()
        value: dict[str, Any] = {
            "assistant_id": assistant_id,
            "graph_id": data.graph_id,
            "config": data.config or {},
            "context": data.context or {},
            "metadata": dict(data.metadata or {}),
            "if_exists": data.if_exists,
            "name": data.name or "Untitled",
        }
        filters = await self.auth.authorize("assistants", "create", value)
        existing = await self.repository.get_one_or_none(assistant_id=assistant_id)
        if existing is not None:
            if data.if_exists == "do_nothing" and matches(existing.metadata_, filters):
                # Handing back an existing assistant is a read: the caller must be allowed to read it.
                read_filters = await self.auth.authorize("assistants", "read", {"assistant_id": assistant_id})
                if matches(existing.metadata_, read_filters):
                    return to_schema(existing)
            raise ConflictError(f"Assistant {assistant_id} already exists")
        if (graph_id := self.reserved_for(assistant_id)) is not None:
            raise reserved_error(assistant_id, graph_id)
        config = value["config"]
        now = utcnow()
        row = AssistantRow(
            assistant_id=assistant_id,
            graph_id=data.graph_id,
            name=value["name"],
            description=data.description,
            config=config,
            context=mirror_context(config, value["context"]),
            metadata_=value["metadata"],
            version=1,
            created_at=now,
            updated_at=now,
        )
        await self.repository.add(row)
        await self.versions_repository.add(self._snapshot(row, now))
        await self.session.commit()
        return to_schema(row)

    async def update(self, raw_id: str, data: AssistantUpdate) -> Assistant:
        assistant_id = self.resolve_id(raw_id)
        value: dict[str, Any] = {
            "assistant_id": assistant_id,
            **{name: getattr(data, name) for name in UPDATABLE_FIELDS if getattr(data, name) is not msgspec.UNSET},
        }
        filters = await self.auth.authorize("assistants", "update", value)
        if "metadata" in value:  # a handler may stamp it
            data = msgspec.structs.replace(data, metadata=value["metadata"])
        row = await self._lock(assistant_id, filters=filters)
        if data.graph_id is not msgspec.UNSET:
            self.registry.spec(data.graph_id)
            if data.graph_id != row.graph_id and system_assistant_id(data.graph_id) == assistant_id:
                raise reserved_error(assistant_id, data.graph_id)  # it would pass for that graph's system assistant
            row.graph_id = data.graph_id
        if data.config is not msgspec.UNSET:
            row.config = data.config
            if data.context is msgspec.UNSET:
                row.context = mirror_context(data.config, {}) or row.context
        if data.context is not msgspec.UNSET:
            row.context = data.context
        if data.metadata is not msgspec.UNSET:
            row.metadata_ = {**row.metadata_, **data.metadata}
        if data.name is not msgspec.UNSET:
            row.name = data.name
        if data.description is not msgspec.UNSET:
            row.description = data.description
        now = utcnow()
        row.version = await self.versions_repository.latest_number(assistant_id) + 1
        row.updated_at = now
        await self.versions_repository.add(self._snapshot(row, now))
        await self.session.commit()
        return to_schema(row)

    async def delete(self, raw_id: str) -> uuid.UUID:
        assistant_id = self.resolve_id(raw_id)
        filters = await self.auth.authorize("assistants", "delete", {"assistant_id": assistant_id})
        if not await self.repository.delete_visible(assistant_id, filters):
            raise NotFoundError(f"Assistant {assistant_id} not found")
        await self.session.commit()
        return assistant_id

    async def search(self, query: AssistantSearch) -> OffsetPagination[Assistant]:
        value: dict[str, Any] = {
            "graph_id": query.graph_id,
            "metadata": query.metadata or {},
            "limit": query.limit,
            "offset": query.offset,
        }
        filters = await self.auth.authorize("assistants", "search", value)
        conditions = self.repository.conditions(
            metadata=value["metadata"], graph_id=query.graph_id, name=query.name, filters=filters
        )
        sort_by = query.sort_by or "created_at"
        page = await self.repository.page(
            *conditions, sort_by=sort_by, sort_order=query.sort_order, limit=query.limit, offset=query.offset
        )
        return convert_page(page, to_schema)

    async def count(self, query: AssistantCount) -> int:
        value: dict[str, Any] = {"graph_id": query.graph_id, "metadata": query.metadata or {}}
        filters = await self.auth.authorize("assistants", "search", value)
        conditions = self.repository.conditions(
            metadata=value["metadata"], graph_id=query.graph_id, name=query.name, filters=filters
        )
        return await self.repository.count(*conditions)

    async def versions(self, raw_id: str, query: AssistantVersionsSearch) -> list[AssistantVersionSchema]:
        assistant_id = self.resolve_id(raw_id)
        value = {"assistant_id": assistant_id, "metadata": query.metadata or {}}
        filters = await self.auth.authorize("assistants", "search", value)
        await self.get_row(assistant_id, filters=filters)
        rows = await self.versions_repository.list_for(
            assistant_id, metadata=query.metadata, limit=query.limit, offset=query.offset
        )
        return [version_to_schema(row) for row in rows]

    async def set_latest(self, raw_id: str, version: int) -> Assistant:
        assistant_id = self.resolve_id(raw_id)
        filters = await self.auth.authorize("assistants", "update", {"assistant_id": assistant_id, "version": version})
        row = await self._lock(assistant_id, filters=filters)
        snapshot = await self.versions_repository.get_version(assistant_id, version)
        if snapshot is None:
            raise NotFoundError(f"Version {version} not found for assistant {assistant_id}")
        for name in VERSIONED_FIELDS:
            setattr(row, name, getattr(snapshot, name))
        row.version = version
        row.updated_at = utcnow()
        await self.session.commit()
        return to_schema(row)

    async def _lock(self, assistant_id: uuid.UUID, *, filters: Filters | None = None) -> AssistantRow:
        row = await self.repository.lock(assistant_id)
        if row is None or not matches(row.metadata_, filters):
            raise NotFoundError(f"Assistant {assistant_id} not found")
        return row

    @staticmethod
    def _snapshot(row: AssistantRow, now: datetime) -> AssistantVersion:
        snapshot = AssistantVersion(assistant_id=row.assistant_id, version=row.version, created_at=now)
        for name in VERSIONED_FIELDS:
            setattr(snapshot, name, getattr(row, name))
        return snapshot
