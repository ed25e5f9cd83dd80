"""Kept run events: `run_events` rows, appended in batches off the streaming path and announced with NOTIFY, so
a client can replay them after `Last-Event-ID` and follow a run that executes in another process."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
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
    """The `run_events` table of one process: writers for the runs it executes, reads for the ones it follows.

    The events of every run executing here go out together: one statement per batch (all runs' events, one NOTIFY
    per run), at most every BATCH_INTERVAL_SECONDS, or as soon as the statement before it is done when a run waits
    for its events to be stored (its end). A burst of runs starting or ending at once costs a few statements, not
    one or two per run."""

    def __init__(self, engine: AsyncEngine, *, origin: str, channel: str) -> None:
        self.engine = engine
        self.origin = origin
        self.channel = channel
        self._pending: dict[uuid.UUID, list[StreamEvent]] = {}
        self._flushes: list[asyncio.Future[None]] = []
        self._urgent = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

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

    def append(self, run_id: uuid.UUID, event: StreamEvent) -> None:
        """Store `event` with the next batch."""
        self._pending.setdefault(run_id, []).append(event)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches(), name="run-events")

    async def flush(self) -> None:
        """Returns once every event appended so far is stored (or given up on: see `insert`)."""
        if self._writer is None:
            return
        done = asyncio.get_running_loop().create_future()
        self._flushes.append(done)
        self._urgent.set()
        await done

    async def _write_batches(self) -> None:
        """Until nothing is left to store: gather events for up to BATCH_INTERVAL_SECONDS (less when a run waits
        for them), store them, then release the flushes asked for before the batch was taken."""
        try:
            while self._pending or self._flushes:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), BATCH_INTERVAL_SECONDS)
                self._urgent.clear()
                pending, self._pending = self._pending, {}
                flushes, self._flushes = self._flushes, []
                try:
                    await self._store(pending)
                finally:
                    for done in flushes:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._writer = None

    async def _store(self, pending: Mapping[uuid.UUID, Sequence[StreamEvent]]) -> None:
        """All runs' batches in one statement; when that fails, each run's on its own (a run deleted meanwhile
        must not cost the others their events)."""
        if len(pending) == 1 or not pending:
            for run_id, batch in pending.items():
                await self.insert(run_id, batch)
            return
        batches = [(run_id, [(item.seq, item.event, item.data) for item in batch]) for run_id, batch in pending.items()]
        payloads = [notice(self.origin, f"{run_id}:{batch[-1].seq}") for run_id, batch in pending.items()]
        try:
            async with self.engine.connect() as conn:
                autocommitted = await conn.execution_options(**AUTOCOMMIT)
                await QueueStorage(autocommitted).store_batches(batches, channel=self.channel, payloads=payloads)
        except SQLAlchemyError:
            for run_id, batch in pending.items():
                await self.insert(run_id, batch)

    async def insert(self, run_id: uuid.UUID, batch: Sequence[StreamEvent]) -> None:
        """Store a batch and announce it (`run_id:last seq`): one statement, outside a transaction."""
        rows = [(item.seq, item.event, item.data) for item in batch]
        payload = notice(self.origin, f"{run_id}:{batch[-1].seq}")
        try:
            async with self.engine.connect() as conn:
                autocommitted = await conn.execution_options(**AUTOCOMMIT)
                await QueueStorage(autocommitted).store_batches(
                    [(run_id, rows)], channel=self.channel, payloads=[payload]
                )
        except SQLAlchemyError as exc:
            # Losing replayable history must not fail the run; live subscribers here already have these events.
            logger.warning("could not store run events", run_id=str(run_id), count=len(rows), error=str(exc))


class EventLog:
    """One run's events on their way to `run_events`, in the process's batches (see `EventStore`)."""

    def __init__(self, store: EventStore, run_id: uuid.UUID) -> None:
        self.store = store
        self.run_id = run_id
        self._appended = False

    def append(self, event: StreamEvent) -> None:
        self._appended = True
        self.store.append(self.run_id, event)

    async def close(self) -> None:
        """Returns once every appended event is stored."""
        if self._appended:
            await self.store.flush()
