"""The response bodies of a run a client follows: its SSE events (replayed, then live, with keep-alives), or
the final JSON of `wait`/`join`. A client that leaves may cancel the run (`cancel_on_disconnect`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Final

import structlog

from aegra import serde
from aegra.runs import sse
from aegra.runs.broker import RunBroker, RunOutcome, StreamEvent, SubscriberLagging, Subscription
from aegra.runs.worker import WorkerPool
from aegra.schemas.status import RunStatus

logger = structlog.get_logger(__name__)

# Events already queued when a stream's writer wakes up go out in one write (one `send`, one syscall) rather than
# one each; at most this many at a time, so a reader far behind still gets its bytes in bounded pieces.
COALESCE_MAX: Final = 256


class RunHandedBackError(Exception):
    """Aborts a wait response whose run this process handed back at shutdown (the client reconnects)."""


class StreamReaderDroppedError(Exception):
    """Aborts a stream whose reader fell too far behind; the SDK reconnects with `Last-Event-ID` and `run_events`
    replays what it lacks."""


def slow_reader_ending(subscription: Subscription, *, resumable: bool) -> bytes:
    """How a stream ends for a reader that fell a whole queue behind a run whose events this process does not hold:
    a broken response when it can resume from `run_events` (raises), else a final `error` event."""
    run_id = str(subscription.channel.run_id)
    if resumable and subscription.events_stored:
        logger.warning("stream reader too slow; dropping it to reconnect", run_id=run_id, behind=subscription.queue_max)
        raise StreamReaderDroppedError(f"Stream of run {run_id} fell {subscription.queue_max} events behind")
    logger.warning("stream reader too slow; ending its stream", run_id=run_id, behind=subscription.queue_max)
    message = (
        f"This stream fell more than {subscription.queue_max} events behind the run, so the server stopped sending "
        "it events. The run goes on: follow it again with join_stream, or wait for its result with join. "
        "Streams created with stream_resumable=True catch up instead."
    )
    return sse.encode_event("error", serde.dumps({"error": "StreamReaderTooSlow", "message": message}))


def frame(item: StreamEvent, resumable: bool) -> bytes:
    """One SSE event; with its id (`seq`) when the stream can be resumed."""
    return sse.encode_event(item.event, item.data, str(item.seq) if resumable else None)


class RunStreams:
    """Builds the bodies; unsubscribes (and cancels, when asked) once a body ends or its client leaves."""

    def __init__(self, broker: RunBroker, pool: WorkerPool) -> None:
        self.broker = broker
        self.pool = pool

    def sse_body(
        self,
        subscription: Subscription,
        *,
        resumable: bool,
        cancel_on_disconnect: bool,
        replay: Sequence[StreamEvent] = (),
    ) -> AsyncIterator[bytes]:
        """The SSE bytes of a run: replayed events, then live ones (with keep-alives) until the run ends."""
        events = self.events(
            subscription, resumable=resumable, cancel_on_disconnect=cancel_on_disconnect, replay=replay
        )

        async def body() -> AsyncIterator[bytes]:
            frames: list[bytes] = []
            try:
                async for item in events:
                    if item is None:
                        frames.append(sse.HEARTBEAT)
                    elif isinstance(item, bytes):
                        frames.append(item)
                    else:
                        frames.append(frame(item, resumable))
                    if subscription.pending and len(frames) < COALESCE_MAX:
                        continue  # more events are queued already: taking them does not wait
                    yield frames[0] if len(frames) == 1 else b"".join(frames)
                    frames.clear()
                if frames:
                    yield b"".join(frames)
            except StreamReaderDroppedError:
                if frames:
                    yield b"".join(frames)  # what the reader was handed before the drop
                raise
            finally:
                await events.aclose()  # stops following at once, not when the generator is collected

        return body()

    def events(
        self,
        subscription: Subscription,
        *,
        resumable: bool,
        cancel_on_disconnect: bool,
        replay: Sequence[StreamEvent] = (),
    ) -> AsyncGenerator[StreamEvent | bytes | None, None]:
        """A run's events: replayed ones, then live ones until the run ends; None when a keep-alive is due, and the
        final SSE bytes of a reader that fell too far behind."""
        run_id = subscription.channel.run_id

        async def body() -> AsyncGenerator[StreamEvent | bytes | None, None]:
            ended = False
            sent = -1
            try:
                for replayed in replay:
                    sent = replayed.seq
                    yield replayed
                while True:
                    try:
                        item = await subscription.next_event(sse.HEARTBEAT_SECONDS)
                    except TimeoutError:
                        yield None
                        continue
                    except SubscriberLagging:
                        missed = subscription.catch_up()
                        if missed is None:
                            ended = True  # the server let go of this reader; the run goes on
                            yield slow_reader_ending(subscription, resumable=resumable)
                            return
                        for item in missed:
                            if item.seq > sent:
                                sent = item.seq
                                yield item
                        continue
                    if item is None:
                        ended = True  # or handed back: the client finds the run pending and reconnects
                        return
                    if item.seq <= sent:
                        continue  # the live feed overlapped the replay
                    sent = item.seq
                    yield item
            finally:
                self._stop_following(subscription, run_id, cancel=cancel_on_disconnect and not ended)

        return body()

    def replay_body(self, events: Sequence[StreamEvent], *, resumable: bool) -> AsyncIterator[bytes]:
        """The SSE bytes of stored events of a run that already ended."""

        async def body() -> AsyncIterator[bytes]:
            for item in events:
                yield frame(item, resumable)

        return body()

    def wait_body(self, subscription: Subscription, *, cancel_on_disconnect: bool) -> AsyncIterator[bytes]:
        """The run's final JSON once it ends; a newline every few seconds until then keeps proxies from timing out
        (leading whitespace is valid JSON)."""
        run_id = subscription.channel.run_id

        async def body() -> AsyncIterator[bytes]:
            ended = False
            try:
                while True:
                    try:
                        outcome = await subscription.wait_outcome(sse.HEARTBEAT_SECONDS)
                    except TimeoutError:
                        yield b"\n"
                        continue
                    ended = True
                    if outcome.status == RunStatus.PENDING:
                        # The run was handed back (shutdown): break the body so the SDK re-joins at `Location`.
                        raise RunHandedBackError(f"Run {run_id} continues in another process")
                    yield outcome.body
                    return
            finally:
                self._stop_following(subscription, run_id, cancel=cancel_on_disconnect and not ended)

        return body()

    @staticmethod
    def outcome_body(outcome: RunOutcome) -> AsyncIterator[bytes]:
        async def body() -> AsyncIterator[bytes]:
            yield outcome.body

        return body()

    def _stop_following(self, subscription: Subscription, run_id: uuid.UUID, *, cancel: bool) -> None:
        """Synchronous: it runs while a disconnected request is being cancelled."""
        self.broker.unsubscribe(subscription)
        if cancel:
            logger.info("client disconnected; cancelling run", run_id=str(run_id))
            self.pool.spawn(self.pool.cancel([run_id], "interrupt"))
