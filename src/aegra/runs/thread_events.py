"""The events of a thread: every run on it, oldest first, then each new one as it is queued, wherever it executes.
Each run's events come from the same pipeline as `runs.stream` (`RunFollower.join_events`: kept events, then live
ones, from this process or through `run_events`); the v3 thread stream numbers their protocol translation per
thread (`seq`), so a client resumes with `since` on any connection."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import exists, select, tuple_

from aegra.auth.authorizer import Authorizer
from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.db.models import Thread as ThreadRow
from aegra.errors import BadRequestError, NotFoundError
from aegra.graphs.registry import GraphRegistry
from aegra.runs import sse
from aegra.runs.broker import RunBroker
from aegra.runs.events import StreamEvent
from aegra.runs.follow import RunFollower
from aegra.runs.protocol import ProtocolEvent, RunTranslator
from aegra.runs.queued import StateUpdated, StateWatch
from aegra.runs.service import RunService
from aegra.runs.worker import WorkerPool
from aegra.schemas.status import INFLIGHT
from aegra.schemas.threads import CheckpointRef
from aegra.services.ids import parse_uuid
from aegra.services.state import ThreadStateService
from aegra.services.threads import ThreadService

# The channels a v3 event stream may ask for (plus `custom:<name>`), as langgraph-api allows them.
CHANNELS: Final = frozenset(
    {"values", "updates", "checkpoints", "messages", "tools", "custom", "lifecycle", "input", "tasks"}
)
RunCursor = tuple[datetime, uuid.UUID] | None


@dataclass(frozen=True, slots=True)
class RunEnded:
    """The run's stream is over and the run ended with `status`."""

    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamFilter:
    """What a v3 event stream asked for: channels, namespace prefixes (within `depth`), events after `since`."""

    channels: frozenset[str]
    namespaces: tuple[tuple[str, ...], ...] | None = None
    depth: int | None = None
    since: int | None = None

    @classmethod
    def parse(cls, body: Any) -> StreamFilter:
        """The subscribe body (`channels`, `namespaces`, `depth`, `since`); 400 for what is not one."""
        channels = body.get("channels") if isinstance(body, dict) else None
        if not isinstance(channels, list) or not channels:
            raise BadRequestError("channels is required and must be a non-empty array")
        bad = [repr(c) for c in channels if not isinstance(c, str) or not (c in CHANNELS or c.startswith("custom:"))]
        if bad:
            raise BadRequestError(
                f"channels contains unsupported entries: {', '.join(bad[:5])}. Allowed: "
                f"{', '.join(sorted(CHANNELS))}, or any `custom:<name>`."
            )
        raw_namespaces = body.get("namespaces")
        namespaces = [
            tuple(ns)
            for ns in (raw_namespaces if isinstance(raw_namespaces, list) else [])
            if isinstance(ns, list) and all(isinstance(segment, str) for segment in ns)
        ]
        return cls(
            channels=frozenset(channels),
            namespaces=tuple(namespaces) or None,
            depth=_natural(body.get("depth")),
            since=_natural(body.get("since")),
        )

    def wants(self, seq: int, event: ProtocolEvent) -> bool:
        if self.since is not None and seq <= self.since:
            return False
        return self._channel_wanted(event) and self._namespace_wanted(event.namespace)

    def _channel_wanted(self, event: ProtocolEvent) -> bool:
        channel = "input" if event.method == "input.requested" else event.method
        if channel in self.channels:
            return True
        name = event.data.get("name") if channel == "custom" and isinstance(event.data, dict) else None
        return name is not None and f"custom:{name}" in self.channels

    def _namespace_wanted(self, namespace: tuple[str, ...]) -> bool:
        if self.namespaces is None:
            return True
        return any(
            _prefix_of(prefix, namespace) and (self.depth is None or len(namespace) - len(prefix) <= self.depth)
            for prefix in self.namespaces
        )


async def _first_of(events: Sequence[asyncio.Event], within: float) -> None:
    """Return once one of `events` is set, or after `within` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _natural(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _prefix_of(prefix: tuple[str, ...], namespace: tuple[str, ...]) -> bool:
    """Segments match literally, or, when the prefix's has no `:task-id`, by name (`child` matches `child:1`)."""
    if len(prefix) > len(namespace):
        return False
    return all(
        want == have or (":" not in want and have.split(":", 1)[0] == want)
        for want, have in zip(prefix, namespace, strict=False)
    )


def envelope(seq: int, event_id: str, event: ProtocolEvent) -> dict[str, Any]:
    """The wire shape of a protocol event."""
    return {
        "type": "event",
        "event_id": event_id,
        "seq": seq,
        "method": event.method,
        "params": {"namespace": list(event.namespace), "timestamp": int(time.time() * 1000), "data": event.data},
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadRuns:
    """Following a thread's runs for one client. A stream outlives its request, so each read opens its own
    session; every run is read through `RunService`, under the caller's auth."""

    database: Database
    registry: GraphRegistry
    broker: RunBroker
    pool: WorkerPool
    auth: Authorizer

    @asynccontextmanager
    async def service(self) -> AsyncIterator[RunService]:
        async with self.database.sessionmaker() as session:
            yield RunService(session, self.registry, self.database, self.broker, self.pool, auth=self.auth)

    async def readable_thread(self, raw_thread_id: str, *, may_be_missing: bool = False) -> uuid.UUID:
        """The thread, when it exists and the caller may read it (`threads.read`); 404 otherwise. With
        `may_be_missing`, a thread that does not exist yet passes (its first `run.start` creates it; each run's
        events are authorized again before they are sent)."""
        thread_id = parse_uuid(raw_thread_id, "thread")
        async with self.service() as runs:
            filters = await self.auth.authorize("threads", "read", {"thread_id": thread_id})
            found = await runs.session.scalar(select(exists().where(ThreadRow.thread_id == thread_id)))
            if (not found and not may_be_missing) or (found and not await runs.thread_visible(thread_id, filters)):
                raise NotFoundError(f"Thread {thread_id} not found")
        return thread_id

    async def rows_after(self, thread_id: uuid.UUID, cursor: RunCursor) -> list[RunRow]:
        """The thread's runs queued after `cursor` (all of them for None), oldest first."""
        stmt = select(RunRow).where(RunRow.thread_id == thread_id)
        if cursor is not None:
            stmt = stmt.where(tuple_(RunRow.created_at, RunRow.run_id) > tuple_(*cursor))
        async with self.database.sessionmaker() as session:
            return list((await session.scalars(stmt.order_by(RunRow.created_at, RunRow.run_id))).all())

    async def runs_of(
        self, thread_id: uuid.UUID, cursor: RunCursor, *, states: StateWatch | None = None
    ) -> AsyncGenerator[RunRow | StateUpdated | None, None]:
        """The thread's runs after `cursor`, then each new one once queued (here or elsewhere), and between runs the
        state updates `states` caught; None when nothing new came for a keep-alive's time (the look is repeated
        then: a missed wake-up costs one interval)."""
        while True:
            for update in states.take() if states is not None else ():
                yield update
            with self.pool.queued_runs.watch() as queued:
                rows = await self.rows_after(thread_id, cursor)
                woken = (queued,) if states is None else (queued, states.arrived)
                if not rows:
                    await _first_of(woken, sse.HEARTBEAT_SECONDS)
            if not rows and not any(event.is_set() for event in woken):
                yield None
            for row in rows:
                cursor = (row.created_at, row.run_id)
                yield row

    async def state_at(self, thread_id: uuid.UUID, checkpoint_id: str) -> dict[str, Any]:
        """The thread's state at a checkpoint, as `GET /threads/{id}/state` answers, under the caller's auth."""
        async with self.database.sessionmaker() as session:
            states = ThreadStateService(ThreadService(session, self.registry, self.database, auth=self.auth))
            return await states.get_state(str(thread_id), CheckpointRef(checkpoint_id=checkpoint_id))

    async def run_events(
        self, thread_id: uuid.UUID, run_id: uuid.UUID, *, after: int | None
    ) -> AsyncGenerator[StreamEvent | RunEnded | None, None]:
        """One run's events after `after` (None: only those still to come), then how it ended. A run handed back
        at a shutdown is followed again (where it resumes), from the last event seen."""
        last = after
        while True:
            try:
                async with self.service() as runs:
                    events = await RunFollower(runs).join_events(str(thread_id), str(run_id), modes=None, after=last)
            except NotFoundError:
                return  # deleted meanwhile
            try:
                async for item in events:
                    if isinstance(item, StreamEvent):
                        last = item.seq
                        yield item
                    elif item is None:
                        yield None
            finally:
                await events.aclose()
            status = await self._status(run_id)
            if status not in INFLIGHT:
                yield RunEnded(status or "error")
                return

    async def _status(self, run_id: uuid.UUID) -> str | None:
        async with self.database.sessionmaker() as session:
            return await session.scalar(select(RunRow.status).where(RunRow.run_id == run_id))

    async def protocol_events(
        self, thread_id: uuid.UUID, wanted: StreamFilter
    ) -> AsyncGenerator[dict[str, Any] | None, None]:
        """The v3 stream: every run's protocol events from the thread's first run on, numbered per thread, those
        the filter wants; None when a keep-alive is due."""
        seq = 0
        async with aclosing(self.runs_of(thread_id, None)) as rows:
            async for row in rows:
                if not isinstance(row, RunRow):  # a keep-alive (this stream watches no state updates)
                    yield None
                    continue
                translator = RunTranslator(str(row.run_id))
                async with aclosing(self.run_events(thread_id, row.run_id, after=-1)) as items:
                    async for item in items:
                        if item is None:
                            yield None
                            continue
                        key, produced = (
                            ("end", translator.end(item.status))
                            if isinstance(item, RunEnded)
                            else (str(item.seq), translator.event(item))
                        )
                        for index, event in enumerate(produced):
                            seq += 1
                            if wanted.wants(seq, event):
                                yield envelope(seq, f"{row.run_id}.{key}.{index}", event)
