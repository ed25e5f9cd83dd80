"""Assistant rows and their immutable version snapshots."""

from __future__ import annotations

import copy
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from advanced_alchemy.filters import LimitOffset, OrderBy, SearchFilter
from sqlalchemy import and_, delete, func, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from aegra.auth.filters import Filters, metadata_clause
from aegra.db.models import Assistant, AssistantVersion, utcnow
from aegra.db.repositories.base import Filter, Repository, affected_rows

CACHED_ASSISTANTS: Final = 1024


class AssistantRowCache:
    """This process's copies of the assistant rows runs were created from, the most recently used kept. A copy may
    be stale (another process updated or deleted the assistant): run creation checks, in the statement inserting
    the run, that the stored row still has the copy's `version` and `updated_at` (see `aegra.db.queue.INSERT_RUN`),
    and reads it again when not. Every copy handed out is a new object, so a caller cannot change the cached one."""

    def __init__(self, size: int = CACHED_ASSISTANTS) -> None:
        self.size = size
        self._rows: OrderedDict[uuid.UUID, Assistant] = OrderedDict()

    def get(self, assistant_id: uuid.UUID) -> Assistant | None:
        row = self._rows.get(assistant_id)
        if row is None:
            return None
        self._rows.move_to_end(assistant_id)
        return _detached_copy(row)

    def put(self, row: Assistant) -> None:
        self._rows[row.assistant_id] = _detached_copy(row)
        self._rows.move_to_end(row.assistant_id)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def forget(self, assistant_id: uuid.UUID) -> None:
        self._rows.pop(assistant_id, None)


def _detached_copy(row: Assistant) -> Assistant:
    """A new row object (in no session) with copies of `row`'s column values."""
    keys = [attr.key for attr in inspect(Assistant).column_attrs]
    return Assistant(**{key: copy.deepcopy(getattr(row, key)) for key in keys})


class PlantedAssistant(NamedTuple):
    """A row found at a system assistant's id that is not that system assistant."""

    graph_id: str
    name: str
    metadata: dict[str, Any]


class AssistantRepository(Repository[Assistant]):
    model_type = Assistant
    id_attribute = "assistant_id"

    async def insert_system(self, values: Mapping[str, Any]) -> None:
        """Create a system assistant and its version 1, leaving an existing one as it is."""
        now = utcnow()
        await self.session.execute(
            pg_insert(Assistant).values(**values, version=1, created_at=now, updated_at=now).on_conflict_do_nothing()
        )
        await self.session.execute(
            pg_insert(AssistantVersion).values(**values, version=1, created_at=now).on_conflict_do_nothing()
        )

    async def remove_planted(
        self, assistant_id: uuid.UUID, graph_id: str, system_metadata: Mapping[str, Any]
    ) -> list[PlantedAssistant]:
        """Delete the row at `assistant_id` unless it is `graph_id`'s system assistant; what was deleted."""
        stmt = (
            delete(Assistant)
            .where(
                Assistant.assistant_id == assistant_id,
                ~and_(Assistant.graph_id == graph_id, Assistant.metadata_.contains(dict(system_metadata))),
            )
            .returning(Assistant.graph_id, Assistant.name, Assistant.metadata_)
        )
        return [PlantedAssistant(*row) for row in (await self.session.execute(stmt)).all()]

    async def lock(self, assistant_id: uuid.UUID) -> Assistant | None:
        """The assistant, locked until the transaction ends (serialises its version numbers)."""
        return await self.get_one_or_none(assistant_id=assistant_id, with_for_update=True)

    async def delete_visible(self, assistant_id: uuid.UUID, filters: Filters | None) -> bool:
        """Delete the assistant if the auth `filters` let the caller see it; whether it was deleted."""
        stmt = delete(Assistant).where(
            Assistant.assistant_id == assistant_id, metadata_clause(Assistant.metadata_, filters)
        )
        result = await self.session.execute(stmt)
        return affected_rows(result) > 0

    @staticmethod
    def conditions(
        *,
        metadata: Mapping[str, Any] | None = None,
        graph_id: str | None = None,
        name: str | None = None,
        filters: Filters | None = None,
    ) -> list[Filter]:
        """What an assistant search asks for: `metadata` containment, a graph, a name part, the auth `filters`."""
        conditions: list[Filter] = [metadata_clause(Assistant.metadata_, filters)]
        if metadata:
            conditions.append(Assistant.metadata_.contains(dict(metadata)))
        if graph_id is not None:
            conditions.append(Assistant.graph_id == graph_id)
        if name is not None:
            conditions.append(SearchFilter("name", name, ignore_case=True, escape_wildcards=True))
        return conditions


class AssistantVersionRepository(Repository[AssistantVersion]):
    model_type = AssistantVersion

    async def latest_number(self, assistant_id: uuid.UUID) -> int:
        """The assistant's highest version number (0 when it has none)."""
        stmt = select(func.max(AssistantVersion.version)).where(AssistantVersion.assistant_id == assistant_id)
        return int(await self.session.scalar(stmt) or 0)

    async def list_for(
        self, assistant_id: uuid.UUID, *, metadata: Mapping[str, Any] | None, limit: int, offset: int
    ) -> list[AssistantVersion]:
        """The assistant's versions, newest first (only those whose metadata contains `metadata`)."""
        conditions: list[Filter] = [AssistantVersion.assistant_id == assistant_id]
        if metadata:
            conditions.append(AssistantVersion.metadata_.contains(dict(metadata)))
        order = OrderBy("version", "desc")
        return await self.get_many(*conditions, order, LimitOffset(limit=limit, offset=offset))

    async def get_version(self, assistant_id: uuid.UUID, version: int) -> AssistantVersion | None:
        return await self.get_one_or_none(assistant_id=assistant_id, version=version)
