"""Assistants: versioned graph configurations, plus one system assistant per served graph."""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

import msgspec
import structlog
from sqlalchemy import Select, and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.filters import Filters, matches, metadata_clause
from aegra.db.models import Assistant as AssistantRow
from aegra.db.models import AssistantVersion, utcnow
from aegra.db.repositories import AssistantRepository
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
from aegra.services.pagination import Page
from aegra.services.serialization import to_schema as row_schema

# Any SELECT, whatever its columns (SQLAlchemy 2.1 types Select by its column types).
AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"

logger = structlog.get_logger(__name__)

SYSTEM_METADATA = {"created_by": "system"}
# Fields of a PATCH body an `assistants.update` auth handler sees (and may stamp, e.g. `metadata`).
UPDATABLE_FIELDS = ("graph_id", "config", "context", "metadata", "name", "description")


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
        self.repository = AssistantRepository(session=session, auto_commit=False, auto_expunge=True)

    def resolve_id(self, raw: str) -> uuid.UUID:
        return parse_assistant_id(raw, self.registry)

    async def ensure_system_assistants(self) -> None:
        """Create the system assistant of every served graph (existing ones are left as they are).

        A row at a system id that is not that graph's system assistant was planted by a client while the graph
        was not served (nothing reserved the id then): it is removed, not adopted, so its owner cannot hold the
        system assistant of a graph added later.
        """
        now = utcnow()
        for graph_id in self.registry.graph_ids():
            await self._remove_planted(graph_id)
            values = {
                "assistant_id": system_assistant_id(graph_id),
                "graph_id": graph_id,
                "name": self.registry.default_name(graph_id),
                "description": self.registry.spec(graph_id).description,
                "config": {},
                "context": {},
                "metadata": SYSTEM_METADATA,
                "created_at": now,
            }
            version_values = {key: value for key, value in values.items() if key != "created_at"} | {"version": 1}
            await self.session.execute(
                pg_insert(AssistantRow).values(**values, updated_at=now, version=1).on_conflict_do_nothing()
            )
            await self.session.execute(
                pg_insert(AssistantVersion).values(**version_values, created_at=now).on_conflict_do_nothing()
            )
        await self.session.commit()

    async def _remove_planted(self, graph_id: str) -> None:
        planted = (
            await self.session.execute(
                delete(AssistantRow)
                .where(
                    AssistantRow.assistant_id == system_assistant_id(graph_id),
                    ~and_(AssistantRow.graph_id == graph_id, AssistantRow.metadata_.contains(SYSTEM_METADATA)),
                )
                .returning(AssistantRow.graph_id, AssistantRow.name, AssistantRow.metadata_)
            )
        ).all()
        for planted_graph, name, metadata in planted:
            logger.warning(
                "removed a client's assistant at a system assistant id",
                graph_id=graph_id,
                assistant_id=str(system_assistant_id(graph_id)),
                its_graph_id=planted_graph,
                its_name=name,
                its_metadata=metadata,
            )

    def reserved_for(self, assistant_id: uuid.UUID) -> str | None:
        """The served graph whose system assistant has this id, if any (clients may not create or move one there)."""
        return next((g for g in self.registry.graph_ids() if system_assistant_id(g) == assistant_id), None)

    async def get_row(self, assistant_id: uuid.UUID, *, filters: Filters | None = None) -> AssistantRow:
        """The assistant; 404 when it does not exist or the auth `filters` hide it."""
        row = await self.repository.get_one_or_none(assistant_id=assistant_id)
        if row is None or not matches(row.metadata_, filters):
            raise NotFoundError(f"Assistant {assistant_id} not found")
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
        self.session.add(row)
        self.session.add(self._snapshot(row, now))
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
        latest = await self.session.scalar(
            select(func.max(AssistantVersion.version)).where(AssistantVersion.assistant_id == assistant_id)
        )
        now = utcnow()
        row.version = (latest or 0) + 1
        row.updated_at = now
        self.session.add(self._snapshot(row, now))
        await self.session.commit()
        return to_schema(row)

    async def delete(self, raw_id: str) -> uuid.UUID:
        assistant_id = self.resolve_id(raw_id)
        filters = await self.auth.authorize("assistants", "delete", {"assistant_id": assistant_id})
        result = await self.session.execute(
            delete(AssistantRow).where(
                AssistantRow.assistant_id == assistant_id, metadata_clause(AssistantRow.metadata_, filters)
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFoundError(f"Assistant {assistant_id} not found")
        await self.session.commit()
        return assistant_id

    async def search(self, query: AssistantSearch) -> Page[Assistant]:
        value = {
            "graph_id": query.graph_id,
            "metadata": query.metadata or {},
            "limit": query.limit,
            "offset": query.offset,
        }
        filters = await self.auth.authorize("assistants", "search", value)
        query = msgspec.structs.replace(query, metadata=value["metadata"] or None)
        sort_column = getattr(AssistantRow, query.sort_by or "created_at")
        order = sort_column.asc() if query.sort_order == "asc" else sort_column.desc()
        stmt = (
            self._filtered(select(AssistantRow, func.count().over()), query.metadata, query.graph_id, query.name)
            .where(metadata_clause(AssistantRow.metadata_, filters))
            .order_by(order, AssistantRow.assistant_id)
            .limit(query.limit)
            .offset(query.offset)
        )
        rows = (await self.session.execute(stmt)).all()
        total = (
            rows[0][1]
            if rows
            else await self._count(
                AssistantCount(metadata=query.metadata, graph_id=query.graph_id, name=query.name), filters
            )
        )
        return Page(items=[to_schema(row) for row, _ in rows], total=total, offset=query.offset)

    async def count(self, query: AssistantCount) -> int:
        value = {"graph_id": query.graph_id, "metadata": query.metadata or {}}
        filters = await self.auth.authorize("assistants", "search", value)
        return await self._count(msgspec.structs.replace(query, metadata=value["metadata"] or None), filters)

    async def _count(self, query: AssistantCount, filters: Filters | None) -> int:
        stmt = self._filtered(
            select(func.count()).select_from(AssistantRow), query.metadata, query.graph_id, query.name
        ).where(metadata_clause(AssistantRow.metadata_, filters))
        return int(await self.session.scalar(stmt) or 0)

    async def versions(self, raw_id: str, query: AssistantVersionsSearch) -> list[AssistantVersionSchema]:
        assistant_id = self.resolve_id(raw_id)
        value = {"assistant_id": assistant_id, "metadata": query.metadata or {}}
        filters = await self.auth.authorize("assistants", "search", value)
        await self.get_row(assistant_id, filters=filters)
        stmt = select(AssistantVersion).where(AssistantVersion.assistant_id == assistant_id)
        if query.metadata:
            stmt = stmt.where(AssistantVersion.metadata_.contains(query.metadata))
        stmt = stmt.order_by(AssistantVersion.version.desc()).limit(query.limit).offset(query.offset)
        return [version_to_schema(row) for row in (await self.session.scalars(stmt)).all()]

    async def set_latest(self, raw_id: str, version: int) -> Assistant:
        assistant_id = self.resolve_id(raw_id)
        filters = await self.auth.authorize("assistants", "update", {"assistant_id": assistant_id, "version": version})
        row = await self._lock(assistant_id, filters=filters)
        snapshot = await self.session.get(AssistantVersion, (assistant_id, version))
        if snapshot is None:
            raise NotFoundError(f"Version {version} not found for assistant {assistant_id}")
        await self.session.execute(
            update(AssistantRow)
            .where(AssistantRow.assistant_id == assistant_id)
            .values(
                graph_id=snapshot.graph_id,
                name=snapshot.name,
                description=snapshot.description,
                config=snapshot.config,
                context=snapshot.context,
                metadata_=snapshot.metadata_,
                version=version,
                updated_at=utcnow(),
            )
        )
        await self.session.commit()
        await self.session.refresh(row)
        return to_schema(row)

    async def _lock(self, assistant_id: uuid.UUID, *, filters: Filters | None = None) -> AssistantRow:
        row = await self.session.scalar(
            select(AssistantRow).where(AssistantRow.assistant_id == assistant_id).with_for_update()
        )
        if row is None or not matches(row.metadata_, filters):
            raise NotFoundError(f"Assistant {assistant_id} not found")
        return row

    @staticmethod
    def _snapshot(row: AssistantRow, now: Any) -> AssistantVersion:
        return AssistantVersion(
            assistant_id=row.assistant_id,
            version=row.version,
            graph_id=row.graph_id,
            name=row.name,
            description=row.description,
            config=row.config,
            context=row.context,
            metadata_=row.metadata_,
            created_at=now,
        )

    @staticmethod
    def _filtered(
        stmt: AnySelect, metadata: dict[str, Any] | None, graph_id: str | None, name: str | None
    ) -> AnySelect:
        if metadata:
            stmt = stmt.where(AssistantRow.metadata_.contains(metadata))
        if graph_id is not None:
            stmt = stmt.where(AssistantRow.graph_id == graph_id)
        if name is not None:
            stmt = stmt.where(AssistantRow.name.ilike(f"%{_escape_like(name)}%", escape="\\"))
        return stmt


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
