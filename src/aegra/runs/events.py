"""Kept run events: `run_events` rows, appended in batches off the streaming path and announced with NOTIFY, so
a client can replay them after `Last-Event-ID` and follow a run that executes in another process."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from aegra import serde
from aegra.db.queue import QueueStorage
from aegra.db.repositories.base import AUTOCOMMIT
from aegra.runs.queue import notice

logger = structlog.get_logger(__name__)

# Events every subscriber gets, whatever stream modes it asked for.
ALWAYS_SENT: Final = frozenset({"metadata", "error", "feedback"})

# The `seq` of a run's first event (its first attempt's `metadata`); later attempts number theirs further on.
FIRST_SEQ: Final = 0

# At most one batch write per run this often: a model streaming thousands of tokens makes tens of inserts a second,
# not thousands, and a follower in another process sees them this much later at worst.
BATCH_INTERVAL_SECONDS: Final = 0.05


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a run's stream; `seq` orders it within the run and is its SSE id."""

    seq: int
    event: str
    data: bytes

    @property
    def mode(self) -> str:
        """The stream mode that produced the event: `updates|child:1` → `updates`, `messages/partial` → `messages`."""
        return self.event.split("|", 1)[0].split("/", 1)[0]


def run_metadata(run_id: uuid.UUID, attempt: int) -> bytes:
    """The data of the `metadata` event each attempt of a run starts its events with (as langgraph-api sends it)."""
    return serde.dumps({"run_id": str(run_id), "attempt": attempt})


def first_event(run_id: uuid.UUID) -> StreamEvent:
    """The event a run's stream opens with, exactly as its first attempt publishes it when it starts: a
    client that queued the run gets it at once, and skips the executor's copy as one it already has."""
    return StreamEvent(FIRST_SEQ, "metadata", run_metadata(run_id, 1))


def normalize_modes(modes: Iterable[str] | None) -> frozenset[str] | None:
    """The event modes a subscriber wants (`messages-tuple` is sent as `messages`); None means all."""
    if not modes:
        return None
    return frozenset("messages" if mode == "messages-tuple" else mode for mode in modes)


def wanted(event: StreamEvent, modes: frozenset[str] | None) -> bool:
    """Whether a subscriber asking for `modes` gets `event`."""
    return modes is None or event.mode in ALWAYS_SENT or event.mode in modes


class EventStore:
    """The `run_events` table of one process: writers for the runs it executes, reads for the ones it follows."""

    def __init__(self, engine: AsyncEngine, *, origin: str, channel: str) -> None:
        self.engine = engine
        self.origin = origin
        self.channel = channel

    def writer(self, run_id: uuid.UUID) -> EventLog:
        """A batched writer for one run's events."""
        return EventLog(self, run_id)

    async def read(self, run_id: uuid.UUID, *, after_seq: int, modes: Iterable[str] | None = None) -> list[StreamEvent]:
        """Stored events after `after_seq` (optionally only some stream modes), in order."""
        async with self.engine.connect() as conn:
            rows = await QueueStorage(conn).events_after(run_id, after_seq)
        modes_wanted = normalize_modes(modes)
        events = (StreamEvent(seq, event, data) for seq, event, data in rows)
        return [item for item in events if wanted(item, modes_wanted)]

    async def last_seq(self, run_id: uuid.UUID) -> int:
        """The sequence number of the run's last stored event; -1 when none is stored."""
        async with self.engine.connect() as conn:
            return await QueueStorage(conn).last_event_seq(run_id)

    async def insert(self, run_id: uuid.UUID, batch: Sequence[StreamEvent]) -> None:
        """Store a batch and announce it (`run_id:last seq`): one statement, outside a transaction."""
        rows = [(item.seq, item.event, item.data) for item in batch]
        payload = notice(self.origin, f"{run_id}:{batch[-1].seq}")
        try:
            async with self.engine.connect() as conn:
                autocommitted = await conn.execution_options(**AUTOCOMMIT)
                await QueueStorage(autocommitted).store_events(run_id, rows, channel=self.channel, payload=payload)
        except SQLAlchemyError as exc:
            # Losing replayable history must not fail the run; live subscribers here already have these events.
            logger.warning("could not store run events", run_id=str(run_id), count=len(rows), error=str(exc))


class EventLog:
    """Appends one run's events to `run_events` in batches, off the streaming path."""

    def __init__(self, store: EventStore, run_id: uuid.UUID) -> None:
        self.store = store
        self.run_id = run_id
        self._buffer: list[StreamEvent] = []
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def append(self, event: StreamEvent) -> None:
        self._buffer.append(event)
        self._ready.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches(), name=f"run-events-{self.run_id}")

    async def close(self) -> None:
        """Write whatever is still buffered; returns once every appended event is stored."""
        self._closing.set()
        self._ready.set()
        if self._writer is not None:
            await self._writer
        if self._buffer:
            await self.store.insert(self.run_id, self._take())

    async def _write_batches(self) -> None:
        """Every batch, the first too, gathers events for up to BATCH_INTERVAL_SECONDS: a run that ends sooner
        (most background runs of a short graph) stores all its events in one statement, at its end."""
        while True:
            with contextlib.suppress(TimeoutError):  # the pause before a batch ends early when the run ends
                await asyncio.wait_for(self._closing.wait(), BATCH_INTERVAL_SECONDS)
            await self._ready.wait()
            self._ready.clear()
            if self._buffer:
                await self.store.insert(self.run_id, self._take())
            if self._closing.is_set():
                return

    def _take(self) -> list[StreamEvent]:
        batch, self._buffer = self._buffer, []
        return batch
