"""Live run events in one process: fan-out to the clients following a run, whether the run executes here (events
come straight from the executor) or in another process (they come from `run_events`, fetched when that process
announces new ones), and the run's outcome (the body `wait`/`join` answer with) once it ends."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy.exc import SQLAlchemyError

from aegra.runs.events import EventLog, EventStore, StreamEvent, normalize_modes, wanted

if TYPE_CHECKING:
    from aegra.runs.relay import RedisRelay  # imports redis: only a process with REDIS_URL builds one

logger = structlog.get_logger(__name__)

# How long a process remembers that a client elsewhere follows a run it does not execute yet (followers repeat
# their notice every heartbeat, so this only has to outlive a few of them).
FOLLOW_MEMORY_SECONDS: Final = 300.0
# Events queued for one subscriber at most (STREAM_SUBSCRIBER_QUEUE_MAX); see `Subscription`.
DEFAULT_QUEUE_MAX: Final = 4096

__all__ = [
    "RunBroker",
    "RunChannel",
    "RunOutcome",
    "StreamEvent",
    "SubscriberLagging",
    "Subscription",
    "normalize_modes",
]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended and the JSON `wait`/`join` answer with (`pending`: handed back, it continues elsewhere)."""

    status: str
    body: bytes


class SubscriberLagging(Exception):
    """The subscriber fell a whole queue behind the run: its queue stopped taking events (the run went on)."""


class _Lagged:
    """Queue marker: events after this point were not queued for the subscriber."""


_LAGGED: Final = _Lagged()


class Subscription:
    """A client's view of one run: its events (unless it only waits for the outcome) and the end of the run.

    Events reach it once each and in order: anything at or before the last one it got is skipped, which lets a
    replay from `run_events` and the live feed overlap safely. Its queue holds at most `queue_max` events: a reader
    that falls further behind stops getting events (`next_event` raises `SubscriberLagging` once it has read what
    was queued), so a stalled client costs bounded memory and never slows the run or the other readers. When the
    run's events are held in this process, `catch_up` hands over the missed ones and switches the feed back on.
    """

    def __init__(
        self,
        channel: RunChannel,
        *,
        modes: frozenset[str] | None,
        events: bool,
        after_seq: int = -1,
        queue_max: int = DEFAULT_QUEUE_MAX,
    ) -> None:
        self.channel = channel
        self.modes = modes
        self.wants_events = events
        self.last_seq = after_seq
        self.queue_max = queue_max
        self.lagging = False
        self._backlog: list[StreamEvent] | None = None  # the run's kept events, when it started lagging
        self._queue: asyncio.Queue[StreamEvent | _Lagged | None] = asyncio.Queue()

    @property
    def pending(self) -> int:
        """Items queued and not read yet (at most `queue_max` events, plus the lag and end markers)."""
        return self._queue.qsize()

    def wants(self, event: StreamEvent) -> bool:
        return self.wants_events and not self.lagging and event.seq > self.last_seq and wanted(event, self.modes)

    def deliver(self, event: StreamEvent | None) -> None:
        """Queue an event (None: the run ended, always queued); never blocks the producer."""
        if event is None:
            self._queue.put_nowait(None)
            return
        if self.lagging:
            return
        if self._queue.qsize() >= self.queue_max:
            self.lagging = True
            self._backlog = self.channel.history  # still complete after the run ends (`finish` lets go of it)
            self._queue.put_nowait(_LAGGED)
            return
        self.last_seq = event.seq
        self._queue.put_nowait(event)

    async def next_event(self, within: float) -> StreamEvent | None:
        """The next event; None once the run has ended; TimeoutError when nothing came `within` seconds;
        SubscriberLagging when the queue overflowed and everything queued before that has been read."""
        if not self._queue.empty():
            item = self._queue.get_nowait()  # the common case while a run streams: no timer needed
        else:
            item = await asyncio.wait_for(self._queue.get(), within)
        if isinstance(item, _Lagged):
            raise SubscriberLagging(f"stream reader fell {self.queue_max} events behind run {self.channel.run_id}")
        return item

    def catch_up(self) -> list[StreamEvent] | None:
        """After `SubscriberLagging`: the events this subscriber missed, from the run's events kept in this process,
        with its live feed switched back on in the same step (so nothing falls in between). None when this process
        does not hold them (the run executes elsewhere, or keeps no events)."""
        backlog, self._backlog = self._backlog, None
        if not backlog:
            return None
        self.lagging = False
        start = max(0, self.last_seq + 1 - backlog[0].seq)  # kept events are numbered without gaps
        missed = [event for event in backlog[start:] if wanted(event, self.modes)]
        if missed:
            self.last_seq = missed[-1].seq
        return missed

    @property
    def events_stored(self) -> bool:
        """Whether the run's events reach this subscriber from `run_events` (it executes in another process), so a
        client that reconnects with `Last-Event-ID` finds the ones it lacks."""
        return not self.channel.executing

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
    log: EventLog | None = None  # executing here, with its events kept in `run_events`
    relayed: bool = False  # executing here, with its events also sent through Redis (followed elsewhere)
    cursor: int = -1  # executing elsewhere: the last stored event fetched for the subscribers here
    fetch_again: bool = False
    fetcher: asyncio.Task[None] | None = None
    outcome: RunOutcome | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def wants_events(self) -> bool:
        return any(subscription.wants_events for subscription in self.subscribers)


class RunBroker:
    """Fans each run's events out to the clients streaming it. Owned by the app (one per process).

    Without a `store` (unit tests) events stay in memory: nothing is kept, nothing is read from elsewhere. With a
    `relay` (REDIS_URL), events of runs followed across processes also travel through Redis, ahead of the store.
    """

    def __init__(
        self,
        store: EventStore | None = None,
        *,
        relay: RedisRelay | None = None,
        subscriber_queue_max: int = DEFAULT_QUEUE_MAX,
    ) -> None:
        self.store = store
        self.relay = relay
        self.subscriber_queue_max = subscriber_queue_max
        self._channels: dict[uuid.UUID, RunChannel] = {}
        self._followed_elsewhere: dict[uuid.UUID, float] = {}

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
        """Follow a run (before it starts, or while it runs); `after_seq` replays the events this process still
        holds after it (a run executing here keeps them in memory while it runs, when it keeps them at all)."""
        channel = self._channels.get(run_id)
        if channel is None:
            channel = self._channels[run_id] = RunChannel(run_id)
            if events and self.relay is not None:
                self.relay.follow(run_id)
        subscription = Subscription(
            channel, modes=normalize_modes(modes), events=events, queue_max=self.subscriber_queue_max
        )
        if after_seq is not None:
            subscription.last_seq = after_seq
            for event in channel.history or ():
                if subscription.wants(event):
                    subscription.deliver(event)
        channel.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop following; synchronous so it is safe in a cancelled request's cleanup."""
        channel = subscription.channel
        channel.subscribers.discard(subscription)
        if not channel.subscribers and not channel.executing and self._channels.get(channel.run_id) is channel:
            del self._channels[channel.run_id]
            self._forget(channel)

    def start(
        self, run_id: uuid.UUID, *, keep_events: bool, followed_elsewhere: bool = False, next_seq: int = 0
    ) -> RunChannel:
        """The executor takes the run's channel (subscribers may already be waiting on it). With `keep_events`,
        or once a client in another process follows the run, its events are also stored in `run_events`, and
        with `followed_elsewhere` (or such a client) relayed through Redis when there is one."""
        channel = self._channels.get(run_id)
        if channel is None:
            channel = self._channels[run_id] = RunChannel(run_id)
        self._forget(channel)
        channel.executing = True
        channel.next_seq = next_seq
        followed_elsewhere = self._followed_elsewhere.pop(run_id, None) is not None or followed_elsewhere
        channel.relayed = followed_elsewhere
        if keep_events or followed_elsewhere:
            channel.history = []  # for clients here that join with `Last-Event-ID` while it runs
            channel.log = self.store.writer(run_id) if self.store is not None else None
        return channel

    def publish(self, channel: RunChannel, event: str, data: bytes) -> StreamEvent:
        """Number the event, hand it to every interested subscriber at once, and keep it if the run keeps events."""
        item = StreamEvent(channel.next_seq, event, data)
        channel.next_seq += 1
        if channel.history is not None:
            channel.history.append(item)
        if channel.log is not None:
            channel.log.append(item)
        if channel.relayed and self.relay is not None:
            self.relay.event(channel.run_id, item)
        self._fan_out(channel, item)
        return item

    async def flush(self, channel: RunChannel) -> None:
        """Wait until every kept event of the run is stored (before its ending is recorded and announced)."""
        if channel.log is not None:
            await channel.log.close()

    def finish(self, run_id: uuid.UUID, outcome: RunOutcome) -> None:
        """The run ended: give waiters its outcome and close every stream."""
        self._followed_elsewhere.pop(run_id, None)
        channel = self._channels.pop(run_id, None)
        if channel is None:
            return
        self._forget(channel)
        channel.outcome = outcome
        channel.executing = False
        channel.history = None
        channel.log = None
        for subscription in channel.subscribers:
            subscription.deliver(None)
        channel.done.set()

    def is_followed_elsewhere(self, run_id: uuid.UUID) -> bool:
        """Clients here follow the run, but this process does not execute it (it runs elsewhere, or not yet)."""
        channel = self._channels.get(run_id)
        return channel is not None and not channel.executing

    def followed_remotely(self) -> list[uuid.UUID]:
        """Runs whose events clients here follow while another process (or none yet) executes them."""
        return [run_id for run_id, channel in self._channels.items() if not channel.executing and channel.wants_events]

    # -- followers in other processes --------------------------------------------------------------------------

    def follow_noticed(self, run_id: uuid.UUID) -> None:
        """A client in another process follows the run: keep its events from now on (if it executes here), or
        when it starts here."""
        channel = self._channels.get(run_id)
        if channel is not None and channel.executing:
            channel.relayed = True
            if channel.log is None and self.store is not None:
                channel.log = self.store.writer(run_id)
            return
        now = time.monotonic()
        if len(self._followed_elsewhere) > 1000:
            cutoff = now - FOLLOW_MEMORY_SECONDS
            self._followed_elsewhere = {key: seen for key, seen in self._followed_elsewhere.items() if seen > cutoff}
        self._followed_elsewhere[run_id] = now

    def stored_noticed(self, run_id: uuid.UUID, last_seq: int) -> None:
        """Another process stored events of the run: fetch them for the subscribers here."""
        channel = self._channels.get(run_id)
        if channel is None or channel.executing or last_seq <= channel.cursor or not channel.wants_events:
            return
        if self.store is not None:
            self._fetch_soon(channel)

    def fetch_stored(self, run_id: uuid.UUID) -> None:
        """Look for stored events of a run followed here whatever notices were missed (LISTEN reconnected)."""
        channel = self._channels.get(run_id)
        if channel is not None and not channel.executing and channel.wants_events and self.store is not None:
            self._fetch_soon(channel)

    def relayed_event(self, run_id: uuid.UUID, item: StreamEvent) -> None:
        """An event of a run executing elsewhere, straight from Redis: delivered when it is the next one the
        subscribers here lack; after a gap (a lost message, a new attempt) `run_events` fills in instead."""
        channel = self._channels.get(run_id)
        if channel is None or channel.executing or item.seq <= channel.cursor:
            return
        if item.seq != channel.cursor + 1:
            if self.store is not None:
                self._fetch_soon(channel)
            return
        channel.cursor = item.seq
        self._fan_out(channel, item)

    def advance(self, run_id: uuid.UUID, seq: int) -> None:
        """Subscribers here already have the run's stored events up to `seq` (replayed): fetch only newer ones."""
        channel = self._channels.get(run_id)
        if channel is not None and not channel.executing:
            channel.cursor = max(channel.cursor, seq)

    async def catch_up(self, run_id: uuid.UUID) -> None:
        """Deliver every stored event of a run executing elsewhere (it ended: they are all stored by now)."""
        channel = self._channels.get(run_id)
        if channel is None or channel.executing or not channel.wants_events or self.store is None:
            return
        self._fetch_soon(channel)
        fetcher = channel.fetcher
        if fetcher is not None:
            await asyncio.gather(fetcher, return_exceptions=True)

    def _fetch_soon(self, channel: RunChannel) -> None:
        channel.fetch_again = True
        if channel.fetcher is None or channel.fetcher.done():
            channel.fetcher = asyncio.create_task(self._fetch(channel), name=f"run-follow-{channel.run_id}")

    async def _fetch(self, channel: RunChannel) -> None:
        """Read stored events past the channel's cursor until no newer notice came in meanwhile."""
        assert self.store is not None
        while channel.fetch_again and not channel.executing:
            channel.fetch_again = False
            try:
                events = await self.store.read(channel.run_id, after_seq=channel.cursor)
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("could not read a followed run's events", run_id=str(channel.run_id), error=str(exc))
                return
            if channel.executing:
                return  # it started here meanwhile: the executor feeds the subscribers now
            for item in events:
                channel.cursor = max(channel.cursor, item.seq)
                self._fan_out(channel, item)

    def _forget(self, channel: RunChannel) -> None:
        """This process stops following the run from elsewhere (it ended, nobody here follows, or runs here)."""
        if channel.fetcher is not None:
            channel.fetcher.cancel()
        if self.relay is not None:
            self.relay.unfollow(channel.run_id)

    @staticmethod
    def _fan_out(channel: RunChannel, item: StreamEvent) -> None:
        for subscription in channel.subscribers:
            if subscription.wants(item):
                subscription.deliver(item)
