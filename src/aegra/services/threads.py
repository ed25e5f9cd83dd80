"""Threads: the metadata rows, their search, and the checkpoints that go with them (copy, prune, delete)."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from advanced_alchemy.service import OffsetPagination
from langgraph.errors import InvalidUpdateError
from langgraph.types import StateSnapshot, StateUpdate
from psycopg import errors as pg_errors
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.adapters.langgraph_checkpoint import copy_thread_checkpoints
from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.filters import Filters, matches
from aegra.db.database import Database
from aegra.db.models import Thread as ThreadRow
from aegra.db.models import utcnow
from aegra.db.repositories.threads import ThreadRepository, insert_new_thread
from aegra.errors import ConflictError, NotFoundError, UnprocessableError
from aegra.graphs.compiled import CompiledGraph
from aegra.graphs.registry import AccessContext, GraphRegistry
from aegra.graphs.snapshots import (
    command_from_json,
    no_graph_error,
    refresh_state_cache,
    thread_config,
    thread_graph_id,
)
from aegra.runs.queue import stop_thread_runs
from aegra.schemas.threads import (
    Superstep,
    Thread,
    ThreadCount,
    ThreadCreate,
    ThreadPrune,
    ThreadSearch,
    ThreadTtl,
    ThreadTtlInfo,
    ThreadUpdate,
)
from aegra.services.ids import parse_uuid
from aegra.services.serialization import iso
from aegra.services.serialization import project as project_fields
from aegra.services.serialization import to_schema as row_schema
from aegra.services.thread_extract import parse_extract, with_extract

# Cancel notices of a thread deletion come from no worker, so every server process acts on them, this one included.
THREAD_DELETE_ORIGIN = "thread-delete"
# The columns of a new thread that its wire form shows as they are (timestamps become `iso` strings).
NEW_THREAD_FIELDS = ("thread_id", "metadata", "status", "config", "interrupts")


def thread_not_found(thread_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"Thread with ID {thread_id} not found")


def effective_expiry(row: ThreadRow) -> datetime | None:
    """When a thread with a TTL expires: `ttl_minutes` after its last activity, never before `expires_at`."""
    if row.ttl_minutes is None or row.expires_at is None:
        return None
    return max(row.expires_at, row.updated_at + timedelta(minutes=row.ttl_minutes))


def new_thread(values: dict[str, Any]) -> Thread:
    """The thread `insert_new_thread` stored from `values` (by column name; `values` and `error` NULL), as
    `to_schema` renders its row."""
    fields = {name: values[name] for name in NEW_THREAD_FIELDS}
    timestamps = {name: iso(values[name]) for name in ("created_at", "updated_at", "state_updated_at")}
    return msgspec.convert(fields | timestamps | {"values": None, "error": None}, type=Thread)


def to_schema(row: ThreadRow, *, include_ttl: bool = False) -> Thread:
    thread = row_schema(row, Thread)
    expiry = effective_expiry(row)
    if include_ttl and expiry is not None and row.ttl_strategy is not None and row.ttl_minutes is not None:
        thread.ttl = ThreadTtlInfo(strategy=row.ttl_strategy, ttl_minutes=row.ttl_minutes, expires_at=iso(expiry))  # type: ignore[arg-type]  # the column holds a TtlStrategy (only validated ones are written)
    return thread


def project(thread: Thread, select_fields: Sequence[str] | None) -> Thread | dict[str, Any]:
    """Only the `select`ed fields of a thread (plus `extracted` when the search asked for it)."""
    projected = project_fields(thread, select_fields)
    if isinstance(projected, Thread):
        return projected
    if thread.extracted is not msgspec.UNSET:
        projected["extracted"] = thread.extracted
    return projected


@dataclass
class ThreadService:
    """All reads and writes of threads for one request (one session); each write commits once, at its end."""

    session: AsyncSession
    registry: GraphRegistry
    database: Database
    default_ttl: ThreadTtl | None = field(default=None, kw_only=True)
    auth: Authorizer = field(default=NO_AUTH, kw_only=True)

    @functools.cached_property
    def repository(self) -> ThreadRepository:
        """Built on first use: creating a thread needs none."""
        return ThreadRepository(self.session)

    async def authorize(self, action: str, raw_id: str | uuid.UUID) -> tuple[uuid.UUID, Filters | None]:
        """The parsed id, and the filters the `threads.<action>` handler puts on that thread."""
        thread_id = parse_uuid(raw_id, "thread") if isinstance(raw_id, str) else raw_id
        return thread_id, await self.auth.authorize("threads", action, {"thread_id": thread_id})

    async def get_row(
        self, thread_id: str | uuid.UUID, *, filters: Filters | None = None, lock: bool = False
    ) -> ThreadRow:
        """The thread row (with `lock`, locked until the session commits: serialised with run creation); 422 for a
        malformed id, 404 for an unknown one or one the auth `filters` hide."""
        thread_id = parse_uuid(thread_id, "thread") if isinstance(thread_id, str) else thread_id
        row = await (self.repository.lock(thread_id) if lock else self.repository.get_fresh(thread_id))
        if row is None or not matches(row.metadata_, filters):
            raise thread_not_found(thread_id)
        return row

    @contextlib.asynccontextmanager
    async def open_graph(self, row: ThreadRow, *, access_context: AccessContext) -> AsyncIterator[CompiledGraph]:
        """The thread's graph bound to the Postgres checkpointer and store (its factory sees the caller as the
        `ServerRuntime` user); 400 when the thread has no graph."""
        graph_id = thread_graph_id(row.metadata_)
        if graph_id is None:
            raise no_graph_error(row.thread_id)
        async with self.registry.get_graph(
            graph_id,
            config=thread_config(row),
            access_context=access_context,
            checkpointer=self.database.checkpointer,
            store=self.database.store,
            user=self.auth.user,
        ) as graph:
            yield graph

    async def get(self, raw_id: str, *, include: Sequence[str] = ()) -> Thread:
        thread_id, filters = await self.authorize("read", raw_id)
        row = await self.get_row(thread_id, filters=filters)
        return to_schema(row, include_ttl="ttl" in include)

    async def create(self, data: ThreadCreate) -> Thread:
        thread_id = data.thread_id or uuid.uuid4()
        value: dict[str, Any] = {
            "thread_id": thread_id,
            "metadata": dict(data.metadata or {}),
            "if_exists": data.if_exists,
        }
        if data.ttl is not None:
            value["ttl"] = {"strategy": data.ttl.strategy, "ttl": data.ttl.ttl}
        filters = await self.auth.authorize("threads", "create", value)
        metadata = value["metadata"]
        if data.supersteps and thread_graph_id(metadata) is None:
            raise no_graph_error(thread_id)
        values = self._new_row(thread_id, metadata, data.ttl)
        if not data.supersteps:
            if not await insert_new_thread(self.database.autocommit_engine, values):
                return await self._existing(thread_id, data, filters)
            return new_thread(values)
        inserted = await self.repository.insert_if_absent(values)
        if inserted is None:
            await self.session.rollback()
            return await self._existing(thread_id, data, filters)
        await self._seed(inserted, data.supersteps)
        await self.session.commit()
        return to_schema(inserted)

    def _new_row(self, thread_id: uuid.UUID, metadata: dict[str, Any], ttl: ThreadTtl | None) -> dict[str, Any]:
        """The columns of a new, idle thread (with its own TTL, else the configured default)."""
        now = utcnow()
        ttl = ttl or self.default_ttl
        return {
            "thread_id": thread_id,
            "metadata": metadata,
            "config": {},
            "status": "idle",
            "interrupts": {},
            "ttl_strategy": ttl.strategy if ttl else None,
            "ttl_minutes": float(ttl.ttl) if ttl else None,
            "expires_at": now + timedelta(minutes=ttl.ttl) if ttl else None,
            "created_at": now,
            "updated_at": now,
            "state_updated_at": now,
        }

    async def _existing(self, thread_id: uuid.UUID, data: ThreadCreate, filters: Filters | None) -> Thread:
        """A create found the id taken: the existing thread for `if_exists="do_nothing"` (if the caller may read
        it), else 409."""
        existing = await self.repository.get_fresh(thread_id)
        if data.if_exists == "do_nothing" and existing is not None and matches(existing.metadata_, filters):
            # Handing back an existing thread is a read: the caller must be allowed to read it.
            read_filters = await self.auth.authorize("threads", "read", {"thread_id": thread_id})
            if matches(existing.metadata_, read_filters):
                return to_schema(existing)
        raise ConflictError(f"Thread with ID {thread_id} already exists")

    async def _seed(self, row: ThreadRow, supersteps: Sequence[Superstep]) -> None:
        """Apply `supersteps` to a new (uncommitted) thread; on failure nothing of it remains."""
        thread_id = str(row.thread_id)  # the rollback below expires `row`
        try:
            async with self.open_graph(row, access_context="threads.update") as graph:
                snapshot = await apply_supersteps(graph, row, supersteps)
        except (InvalidUpdateError, ValueError, NotImplementedError) as exc:
            await self.session.rollback()
            await self.database.checkpointer.adelete_thread(thread_id)
            raise UnprocessableError(f"Invalid supersteps: {exc}") from exc
        refresh_state_cache(row, snapshot)

    async def update(self, raw_id: str, data: ThreadUpdate) -> Thread:
        thread_id = parse_uuid(raw_id, "thread")
        value: dict[str, Any] = {"thread_id": thread_id, "metadata": dict(data.metadata or {})}
        filters = await self.auth.authorize("threads", "update", value)
        row = await self.get_row(thread_id, filters=filters, lock=True)
        now = utcnow()
        if value["metadata"]:
            row.metadata_ = {**row.metadata_, **value["metadata"]}
        if data.ttl is not None:
            row.ttl_strategy = data.ttl.strategy
            row.ttl_minutes = data.ttl.ttl
            row.expires_at = now + timedelta(minutes=data.ttl.ttl)
        row.updated_at = now
        await self.session.commit()
        return to_schema(row)

    async def delete(self, raw_id: str) -> None:
        """Delete the thread, its runs (cascade) and its checkpoints; runs still executing on it are stopped,
        in whichever server process executes them."""
        thread_id, filters = await self.authorize("delete", raw_id)
        await stop_thread_runs(self.session, thread_id, origin=THREAD_DELETE_ORIGIN)
        if not await self.repository.delete_visible(thread_id, filters):
            raise thread_not_found(thread_id)
        await self.session.commit()
        await self.database.checkpointer.adelete_thread(str(thread_id))

    async def search(self, query: ThreadSearch) -> OffsetPagination[Thread]:
        """One page of threads; like langgraph-api, the total is only exact on the last page."""
        value: dict[str, Any] = {
            "metadata": dict(query.metadata or {}),
            "values": dict(query.values or {}),
            "status": query.status,
            "limit": query.limit,
            "offset": query.offset,
            "ids": query.ids,
        }
        filters = await self.auth.authorize("threads", "search", value)
        extract = parse_extract(query.extract)
        conditions = self.repository.conditions(
            metadata=value["metadata"], values=value["values"], status=query.status, ids=query.ids, filters=filters
        )
        rows = await self.repository.search(
            *conditions,
            sort_by=query.sort_by or "updated_at",
            sort_order=query.sort_order,
            limit=query.limit + 1,  # one more tells whether another page follows
            offset=query.offset,
        )
        more = len(rows) > query.limit
        items = [with_extract(to_schema(row), extract) for row in rows[: query.limit]]
        total = query.offset + len(items) + (1 if more else 0)
        return OffsetPagination(items, limit=query.limit, offset=query.offset, total=total)

    async def count(self, query: ThreadCount) -> int:
        value: dict[str, Any] = {
            "metadata": dict(query.metadata or {}),
            "values": dict(query.values or {}),
            "status": query.status,
        }
        filters = await self.auth.authorize("threads", "search", value)
        conditions = self.repository.conditions(
            metadata=value["metadata"], values=value["values"], status=query.status, filters=filters
        )
        return await self.repository.count(*conditions)

    async def copy(self, raw_id: str) -> Thread:
        """A new thread with the same metadata, config, cached state and checkpoints."""
        thread_id, filters = await self.authorize("read", raw_id)
        await self.auth.authorize("threads", "create", {"thread_id": thread_id})  # copying creates a thread
        source = await self.get_row(thread_id, filters=filters)
        now = utcnow()
        copied = ThreadRow(
            thread_id=uuid.uuid4(),
            metadata_=dict(source.metadata_),
            config=dict(source.config),
            status="idle" if source.status == "busy" else source.status,
            values=source.values,
            interrupts=dict(source.interrupts),
            error=source.error,
            ttl_strategy=source.ttl_strategy,
            ttl_minutes=source.ttl_minutes,
            expires_at=now + timedelta(minutes=source.ttl_minutes) if source.ttl_minutes else None,
            created_at=now,
            updated_at=now,
            state_updated_at=now,
        )
        await self.repository.add(copied)
        await copy_thread_checkpoints(self.database.lg_pool, str(source.thread_id), str(copied.thread_id))
        await self.session.commit()
        return to_schema(copied)

    async def prune(self, data: ThreadPrune) -> int:
        """`delete` removes the threads; `keep_latest` keeps each thread with only its latest checkpoint."""
        ids = list(dict.fromkeys(data.thread_ids))
        if not ids:
            return 0
        filters = await self.auth.authorize("threads", "delete", {"thread_ids": ids})
        found = await self.repository.visible_ids(ids, filters)
        missing = [str(thread_id) for thread_id in ids if thread_id not in found]
        if missing:
            raise NotFoundError(f"At least one thread not found: {', '.join(missing)}")
        if data.strategy == "delete":
            for thread_id in ids:
                await stop_thread_runs(self.session, thread_id, origin=THREAD_DELETE_ORIGIN)
            await self.repository.delete_all(ids)
            await self.session.commit()
        await prune_checkpoints(self.database, [str(thread_id) for thread_id in ids], strategy=data.strategy)
        return len(ids)


async def apply_supersteps(graph: CompiledGraph, row: ThreadRow, supersteps: Sequence[Superstep]) -> StateSnapshot:
    """Write `supersteps` to a thread's checkpoints as if the named nodes had run; returns the new state."""
    config = thread_config(row)
    await graph.abulk_update_state(
        config,
        [
            [
                StateUpdate(
                    command_from_json(update.command) if update.command else update.values,  # type: ignore[arg-type]  # langgraph types `values` as a dict, but a Command is accepted there
                    update.as_node,
                )
                for update in superstep.updates
            ]
            for superstep in supersteps
        ],
    )
    return await graph.aget_state(config)


async def prune_checkpoints(database: Database, thread_ids: Sequence[str], *, strategy: str) -> None:
    """Delete all checkpoints of the threads, or all but the latest (`keep_latest`)."""
    try:
        await database.checkpointer.aprune(thread_ids, strategy=strategy)
    except NotImplementedError as exc:
        raise UnprocessableError(f"Cannot prune with strategy {strategy!r}: {exc}") from exc
    except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected) as exc:
        raise ConflictError("Another prune of these threads is in progress; retry") from exc
