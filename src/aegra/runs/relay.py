"""Redis pub/sub between server processes, only when REDIS_URL is set: an accelerator, never a requirement.

It carries the notices PostgreSQL NOTIFY carries too (cancel a run, a client follows a run), and the events of a
run followed from another process as they are produced, so that follower does not wait for them to be stored in
`run_events`. Everything sent here also goes through PostgreSQL: a message Redis loses (pub/sub is at most
once, and Redis may be down) only costs latency, and a message that arrives twice changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from aegra.runs.events import StreamEvent

logger = structlog.get_logger(__name__)

DEFAULT_PREFIX: Final = "aegra"
RETRY_SECONDS: Final = 1.0

NoticeHandler = Callable[[str, str], None]
EventHandler = Callable[[uuid.UUID, StreamEvent], None]


def channel_prefix(configured: str | None, database_url: str) -> str:
    """The prefix of this deployment's Redis channels: REDIS_CHANNEL_PREFIX, else `aegra:<host>:<port>/<database>`
    of DATABASE_URL, so two deployments sharing one Redis never hear each other (their processes share a database
    exactly when they share a prefix)."""
    if configured:
        return configured
    try:
        url = make_url(database_url)
    except ArgumentError:
        return DEFAULT_PREFIX
    return f"{DEFAULT_PREFIX}:{url.host or 'localhost'}:{url.port or 5432}/{url.database or 'postgres'}"


def encode_event(item: StreamEvent) -> bytes:
    """`<seq> <event>\\n<data>`: the event name never holds a newline, the JSON data may be anything."""
    return f"{item.seq} {item.event}\n".encode() + item.data


def decode_event(message: bytes) -> StreamEvent:
    head, _, data = message.partition(b"\n")
    seq, _, event = head.decode().partition(" ")
    return StreamEvent(int(seq), event, data)


class RedisRelay:
    """One process's Redis connection: publishes without waiting (one pipelined round trip per burst), listens
    for notices and for the events of the runs followed here."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis: Redis = Redis.from_url(url)
        self.notices_channel = f"{prefix}:notices"
        self.events_prefix = f"{prefix}:events:"
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._runs: set[uuid.UUID] = set()
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changes: set[asyncio.Task[None]] = set()
        self._on_notice: NoticeHandler | None = None
        self._on_event: EventHandler | None = None
        self.listening = asyncio.Event()  # set while subscribed (tests wait for it)

    def start(self, *, on_notice: NoticeHandler, on_event: EventHandler) -> None:
        """Start sending and listening (in the background: a Redis that is down delays nothing)."""
        self._on_notice, self._on_event = on_notice, on_event
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="aegra-redis-send"),
            asyncio.create_task(self._listen_loop(), name="aegra-redis-listen"),
        ]

    async def aclose(self) -> None:
        for task in [*self._tasks, *self._changes]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._changes, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()

    def notice(self, channel: str, payload: str) -> None:
        """A NOTIFY-style notice (`<channel> <origin>|<body>`) for every other process."""
        self._outbox.put_nowait((self.notices_channel, f"{channel} {payload}".encode()))

    def event(self, run_id: uuid.UUID, item: StreamEvent) -> None:
        """One event of a run, for processes that follow it."""
        self._outbox.put_nowait((f"{self.events_prefix}{run_id}", encode_event(item)))

    def follow(self, run_id: uuid.UUID) -> None:
        """Receive the run's events (they arrive through `on_event`)."""
        if run_id not in self._runs:
            self._runs.add(run_id)
            self._subscribe_soon(f"{self.events_prefix}{run_id}", subscribe=True)

    def unfollow(self, run_id: uuid.UUID) -> None:
        if run_id in self._runs:
            self._runs.discard(run_id)
            self._subscribe_soon(f"{self.events_prefix}{run_id}", subscribe=False)

    async def settled(self) -> None:
        """Wait until the follow/unfollow requests made so far reached Redis."""
        await asyncio.gather(*self._changes, return_exceptions=True)

    def _subscribe_soon(self, channel: str, *, subscribe: bool) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            return  # not connected: the listen loop subscribes to every followed run when it (re)connects

        async def change() -> None:
            with contextlib.suppress(RedisError, OSError):
                await (pubsub.subscribe(channel) if subscribe else pubsub.unsubscribe(channel))

        task = asyncio.create_task(change())
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)

    async def _send_loop(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                logger.warning("redis publish failed; PostgreSQL still carries it", count=len(batch), error=str(exc))

    async def _listen_loop(self) -> None:
        while True:
            try:
                self._pubsub = self._redis.pubsub()
                await self._pubsub.subscribe(
                    self.notices_channel, *(f"{self.events_prefix}{run_id}" for run_id in self._runs)
                )
                self.listening.set()
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        self._dispatch(message["channel"].decode(), message["data"])
            except (RedisError, OSError) as exc:
                logger.warning("redis listen failed; retrying", error=str(exc))
            finally:
                self.listening.clear()
                pubsub, self._pubsub = self._pubsub, None
                if pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()
            await asyncio.sleep(RETRY_SECONDS)

    def _dispatch(self, channel: str, data: bytes) -> None:
        if channel == self.notices_channel and self._on_notice is not None:
            name, _, payload = data.decode().partition(" ")
            self._on_notice(name, payload)
        elif channel.startswith(self.events_prefix) and self._on_event is not None:
            with contextlib.suppress(ValueError):
                self._on_event(uuid.UUID(channel.removeprefix(self.events_prefix)), decode_event(data))
