"""Runs followed by the client of this request: queue one and stream it or wait for it, join one that exists
(its outcome, or its stream from `Last-Event-ID` on, wherever it executes)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from aegra.db.models import Run as RunRow
from aegra.errors import ForbiddenError
from aegra.runs import queue
from aegra.runs.broker import RunOutcome, StreamEvent, Subscription
from aegra.runs.elsewhere import outcome_of
from aegra.runs.events import first_event
from aegra.runs.service import FollowedRun, RunService
from aegra.runs.streams import RunStreams
from aegra.schemas.common import INT64_MAX, INT64_MIN
from aegra.schemas.runs import RunCreate
from aegra.schemas.status import INFLIGHT
from aegra.services.ids import parse_uuid


def parse_last_event_id(raw: str | None) -> int | None:
    """`Last-Event-ID` is the `seq` of the last event a client saw (`-1` replays everything). One this server
    never sent (not a number, out of range) replays from the start, as langgraph-api does."""
    if raw is None or raw.strip() == "":
        return None
    try:
        seq = int(raw)
    except ValueError:
        return -1
    return seq if INT64_MIN <= seq <= INT64_MAX else -1  # `seq` is a bigint


async def _iterate(events: Sequence[StreamEvent]) -> AsyncGenerator[StreamEvent | bytes | None, None]:
    for item in events:
        yield item


class RunFollower:
    """Following runs for one request, on top of its `RunService` (session, auth, run rows)."""

    def __init__(self, runs: RunService) -> None:
        self.runs = runs
        self.broker = runs.broker
        self.pool = runs.pool
        self.streams = RunStreams(runs.broker, runs.pool)

    async def stream(self, thread_id: str | None, payload: RunCreate) -> tuple[RunRow, AsyncIterator[bytes]]:
        """Queue a run and stream its events to this client, starting with its `metadata` as soon as the run is
        committed, not once a worker gets to it (the run may wait in the queue)."""
        followed = await self.runs.create_and_follow(thread_id, payload, events=True)
        cancel = payload.on_disconnect == "cancel"
        opening = first_event(followed.row.run_id)
        followed.subscription.last_seq = opening.seq  # the executor publishes it again when the run starts: skipped
        body = self.streams.sse_body(
            followed.subscription, resumable=payload.stream_resumable, cancel_on_disconnect=cancel, replay=[opening]
        )
        return followed.row, body

    async def wait(self, thread_id: str | None, payload: RunCreate) -> tuple[RunRow, AsyncIterator[bytes]]:
        """Queue a run and answer with its final values once it ends."""
        followed = await self.runs.create_and_follow(thread_id, payload, events=False)
        cancel = payload.on_disconnect == "cancel"
        return followed.row, self.streams.wait_body(followed.subscription, cancel_on_disconnect=cancel)

    async def join(
        self, thread_id: str, run_id: str, *, cancel_on_disconnect: bool
    ) -> tuple[RunRow, AsyncIterator[bytes]]:
        """Wait for a run: its outcome at once if it already ended, else once it does. Subscribed before the run
        is read, so one read tells both: an ending after it reaches the subscription."""
        parse_uuid(thread_id, "thread")  # a malformed id answers as `get_row` does, before anything is followed
        subscription = self.broker.subscribe(parse_uuid(run_id, "run"), events=False)
        try:
            row = await self.runs.get_row(thread_id, run_id)
            if cancel_on_disconnect:
                await self._check_may_cancel(row)
            await self.runs.release_connection()
        except BaseException:
            self.broker.unsubscribe(subscription)
            raise
        if row.status not in INFLIGHT and not self.broker.is_live(row.run_id):
            self.broker.unsubscribe(subscription)
            return row, self.streams.outcome_body(outcome_of(row))
        return row, self.streams.wait_body(subscription, cancel_on_disconnect=cancel_on_disconnect)

    async def join_stream(
        self,
        thread_id: str | None,
        run_id: str,
        *,
        modes: Sequence[str] | None,
        last_event_id: str | None,
        cancel_on_disconnect: bool,
    ) -> tuple[RunRow, AsyncIterator[bytes]]:
        """A run's stream, wherever it executes: the kept events after `Last-Event-ID`, then live ones while it
        runs. Events carry their ids, so a client that drops can resume after the last one it got."""
        after = parse_last_event_id(last_event_id)
        row, replay, subscription = await self._join(
            thread_id, run_id, modes=modes, after=after, cancel_on_disconnect=cancel_on_disconnect
        )
        if subscription is None:
            return row, self.streams.replay_body(replay, resumable=True)
        body = self.streams.sse_body(
            subscription, resumable=True, cancel_on_disconnect=cancel_on_disconnect, replay=replay
        )
        return row, body

    async def join_events(
        self, thread_id: str, run_id: str, *, modes: Sequence[str] | None, after: int | None
    ) -> AsyncGenerator[StreamEvent | bytes | None, None]:
        """What `join_stream` sends, as events (None: a keep-alive is due): for the thread streams."""
        _, replay, subscription = await self._join(
            thread_id, run_id, modes=modes, after=after, cancel_on_disconnect=False
        )
        if subscription is None:
            return _iterate(replay)
        return self.streams.events(subscription, resumable=True, cancel_on_disconnect=False, replay=replay)

    async def _join(
        self,
        thread_id: str | None,
        run_id: str,
        *,
        modes: Sequence[str] | None,
        after: int | None,
        cancel_on_disconnect: bool,
    ) -> tuple[RunRow, list[StreamEvent], Subscription | None]:
        """The run, the kept events to replay, and the subscription to its live ones (None: it already ended)."""
        row = await (self.runs.get_row(thread_id, run_id) if thread_id is not None else self.runs.get_any_row(run_id))
        if cancel_on_disconnect:
            await self._check_may_cancel(row)
        if self.broker.is_live(row.run_id):
            await self.runs.release_connection()
            return row, [], self.broker.subscribe(row.run_id, modes=modes, after_seq=after)
        followed = await self._follow(row, events=True, modes=modes, after_seq=after)
        if isinstance(followed, RunOutcome):
            replay = [] if after is None else await self._kept_events(row.run_id, after=after, modes=modes)
            return row, replay, None
        subscription = followed.subscription
        replay = []
        if not self.broker.is_live(row.run_id):  # it executes elsewhere, or not yet: it comes from `run_events`
            self.pool.follow(row.run_id)
            store = self.broker.store
            start = after if after is not None else (await store.last_seq(row.run_id) if store is not None else -1)
            subscription.last_seq = max(subscription.last_seq, start)
            if after is not None:
                replay = await self._kept_events(row.run_id, after=after, modes=modes)
            self.broker.advance(row.run_id, replay[-1].seq if replay else start)
        return row, replay, subscription

    async def _kept_events(self, run_id: uuid.UUID, *, after: int, modes: Sequence[str] | None) -> list[StreamEvent]:
        store = self.broker.store
        return [] if store is None else await store.read(run_id, after_seq=after, modes=modes)

    async def _follow(
        self, row: RunRow, *, events: bool, modes: Sequence[str] | None = None, after_seq: int | None = None
    ) -> FollowedRun | RunOutcome:
        """Subscribe to a run unless it already ended (checked again after subscribing, to close the race)."""
        if row.status not in INFLIGHT and not self.broker.is_live(row.run_id):
            return outcome_of(row)
        subscription = self.broker.subscribe(row.run_id, modes=modes, events=events, after_seq=after_seq)
        fresh = await queue.get_run(self.runs.session, row.run_id)
        await self.runs.release_connection()
        if (fresh is None or fresh.status not in INFLIGHT) and not self.broker.is_live(row.run_id):
            self.broker.unsubscribe(subscription)
            return outcome_of(fresh)
        return FollowedRun(fresh or row, subscription)

    async def _check_may_cancel(self, row: RunRow) -> None:
        """Following a run with `cancel_on_disconnect` cancels it when the client leaves, so it needs what
        cancelling needs (`threads.update`), not only read access: 403 otherwise, before anything is followed."""
        value = {"thread_id": row.thread_id, "run_id": row.run_id, "action": "interrupt"}
        filters = await self.runs.auth.authorize("threads", "update", value)
        if not await self.runs.thread_visible(row.thread_id, filters):
            raise ForbiddenError(
                f"Not allowed to cancel run {row.run_id}, so not to follow it with cancel_on_disconnect"
            )
