"""Live run events: in-process fan-out to subscribers, the `run_events` log for `Last-Event-ID` replay, and the
run's outcome (the body `wait`/`join` answer with) once it ends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from aegra.db.models import RunEvent as RunEventRow

logger = structlog.get_logger(__name__)

# Events every subscriber gets, whatever stream modes it asked for.
ALWAYS_SENT = frozenset({"metadata", "error", "feedback"})


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


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended and the JSON `wait`/`join` answer with."""

    status: str
    body: bytes


def normalize_modes(modes: Iterable[str] | None) -> frozenset[str] | None:
    """The event modes a subscriber wants (`messages-tuple` is sent as `messages`); None means all."""
    if not modes:
        return None
    return frozenset("messages" if mode == "messages-tuple" else mode for mode in modes)


class Subscription:
    """A client's view of one run: its events (unless it only waits for the outcome) and the end of the run."""

    def __init__(self, channel: RunChannel, *, modes: frozenset[str] | None, events: bool) -> None:
        self.channel = channel
        self.modes = modes
        self.wants_events = events
        self._queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()

    def wants(self, event: StreamEvent) -> bool:
        return self.wants_events and (self.modes is None or event.mode in ALWAYS_SENT or event.mode in self.modes)

    def deliver(self, event: StreamEvent | None) -> None:
        self._queue.put_nowait(event)

    async def next_event(self, within: float) -> StreamEvent | None:
        """The next event; None once the run has ended; TimeoutError when nothing came `within` seconds."""
        if not self._queue.empty():
            return self._queue.get_nowait()  # the common case while a run streams: no timer needed
        return await asyncio.wait_for(self._queue.get(), within)

    async def wait_outcome(self, within: float | None) -> RunOutcome:
        """The run's outcome; TimeoutError when it has not ended `within` seconds (None: no limit)."""
        await asyncio.wait_for(self.channel.done.wait(), within)
        assert self.channel.outcome is not None
        return self.channel.outcome


@dataclass(slots=True, eq=False)
class RunChannel:
    """The live state of one run in this process."""

    run_id: uuid.UUID
    subscribers: set[Subscription] = field(default_factory=set)
    history: list[StreamEvent] | None = None
    next_seq: int = 0
    executing: bool = False
    outcome: RunOutcome | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class RunBroker:
    """Fans each run's events out to the clients streaming it. Owned by the app (one per process)."""

    def __init__(self) -> None:
        self._channels: dict[uuid.UUID, RunChannel] = {}

    @property
    def subscriber_count(self) -> int:
        return sum(len(channel.subscribers) for channel in self._channels.values())

    def is_live(self, run_id: uuid.UUID) -> bool:
        """Whether this process is executing the run right now."""
        channel = self._channels.get(run_id)
        return channel is not None and channel.executing

    def subscribe(
        self,
        run_id: uuid.UUID,
        *,
        modes: Iterable[str] | None = None,
        after_seq: int | None = None,
        events: bool = True,
    ) -> Subscription:
        """Follow a run (before it starts, or while it runs here); `after_seq` replays kept events after it."""
        channel = self._channels.get(run_id)
        if channel is None:
            channel = self._channels[run_id] = RunChannel(run_id)
        subscription = Subscription(channel, modes=normalize_modes(modes), events=events)
        if after_seq is not None and channel.history is not None:
            for event in channel.history:
                if event.seq > after_seq and subscription.wants(event):
                    subscription.deliver(event)
        channel.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop following; synchronous so it is safe in a cancelled request's cleanup."""
        channel = subscription.channel
        channel.subscribers.discard(subscription)
        if not channel.subscribers and not channel.executing and self._channels.get(channel.run_id) is channel:
            del self._channels[channel.run_id]

    def start(self, run_id: uuid.UUID, *, resumable: bool, next_seq: int = 0) -> RunChannel:
        """The executor takes the run's channel (subscribers may already be waiting on it)."""
        channel = self._channels.get(run_id)
        if channel is None:
            channel = self._channels[run_id] = RunChannel(run_id)
        channel.executing = True
        channel.next_seq = next_seq
        channel.history = [] if resumable else None
        return channel

    def publish(self, channel: RunChannel, event: str, data: bytes) -> StreamEvent:
        """Number the event and hand it to every interested subscriber at once."""
        item = StreamEvent(channel.next_seq, event, data)
        channel.next_seq += 1
        if channel.history is not None:
            channel.history.append(item)
        for subscription in channel.subscribers:
            if subscription.wants(item):
                subscription.deliver(item)
        return item

    def finish(self, run_id: uuid.UUID, outcome: RunOutcome) -> None:
        """The run ended: give waiters its outcome and close every stream."""
        channel = self._channels.pop(run_id, None)
        if channel is None:
            return
        channel.outcome = outcome
        channel.executing = False
        channel.history = None
        for subscription in channel.subscribers:
            subscription.deliver(None)
        channel.done.set()

    def is_followed_elsewhere(self, run_id: uuid.UUID) -> bool:
        """Clients here follow the run, but this process does not execute it (it runs elsewhere, or not yet)."""
        channel = self._channels.get(run_id)
        return channel is not None and not channel.executing


class EventLog:
    """Appends a run's events to `run_events` in batches, off the streaming path, and reads them back."""

    def __init__(self, engine: AsyncEngine, run_id: uuid.UUID) -> None:
        self.engine = engine
        self.run_id = run_id
        self._buffer: list[StreamEvent] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None

    def append(self, event: StreamEvent) -> None:
        self._buffer.append(event)
        self._ready.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches(), name=f"run-events-{self.run_id}")

    async def close(self) -> None:
        """Write whatever is still buffered; returns once every appended event is stored."""
        self._closing = True
        self._ready.set()
        if self._writer is not None:
            await self._writer
        if self._buffer:
            await self._insert(self._take())

    async def _write_batches(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self._buffer:
                await self._insert(self._take())
            if self._closing:
                return

    def _take(self) -> list[StreamEvent]:
        batch, self._buffer = self._buffer, []
        return batch

    async def _insert(self, batch: Sequence[StreamEvent]) -> None:
        rows = [{"run_id": self.run_id, "seq": item.seq, "event": item.event, "data": item.data} for item in batch]
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(RunEventRow), rows)
        except SQLAlchemyError as exc:
            # Losing replayable history must not fail the run; live subscribers already have these events.
            logger.warning("could not store run events", run_id=str(self.run_id), count=len(rows), error=str(exc))

    @staticmethod
    async def next_seq(engine: AsyncEngine, run_id: uuid.UUID) -> int:
        """Where a new attempt of the run continues numbering its events."""
        async with engine.connect() as conn:
            stmt = select(RunEventRow.seq).where(RunEventRow.run_id == run_id).order_by(RunEventRow.seq.desc())
            last = (await conn.execute(stmt.limit(1))).scalar_one_or_none()
        return 0 if last is None else last + 1

    @staticmethod
    async def read(
        engine: AsyncEngine, run_id: uuid.UUID, *, after_seq: int, modes: Iterable[str] | None = None
    ) -> list[StreamEvent]:
        """Stored events after `after_seq` (optionally only some stream modes), in order."""
        wanted = normalize_modes(modes)
        async with engine.connect() as conn:
            stmt = (
                select(RunEventRow.seq, RunEventRow.event, RunEventRow.data)
                .where(RunEventRow.run_id == run_id, RunEventRow.seq > after_seq)
                .order_by(RunEventRow.seq)
            )
            rows = (await conn.execute(stmt)).all()
        events = [StreamEvent(seq, event, bytes(data)) for seq, event, data in rows]
        if wanted is None:
            return events
        return [item for item in events if item.mode in ALWAYS_SENT or item.mode in wanted]
