"""The thread join stream (`GET /threads/{thread_id}/stream`): the events of every run of a thread that runs while
the client is connected, as `runs.stream` sends them, with ids `<run_id>:<seq>` so a client resumes after the last
one it got with `Last-Event-ID` (an id this server never sent replays the thread's runs from the start).

Modes: `run_modes` (each run's events), `lifecycle` (each run's `metadata` event, and `{"status": "run_done"}`
when it ends), `state_update` (a `state_update` event, `{"state": <the thread state after the update>,
"thread_id": ...}`, for each `POST /threads/{id}/state` made on any process while the client is connected; its id
`<last run id>:state:<checkpoint id>` resumes after that run, like its `:done` id: the runs queued after the
update are replayed, the state updates themselves are not kept, so one made while the client was away is missed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Final, get_args

from aegra import serde
from aegra.db.models import Run as RunRow
from aegra.errors import NotFoundError, UnprocessableError
from aegra.runs import sse
from aegra.runs.events import StreamEvent
from aegra.runs.queued import StateUpdated
from aegra.runs.thread_events import RunCursor, RunEnded, ThreadRuns
from aegra.schemas.status import INFLIGHT
from aegra.schemas.threads import ThreadStreamMode

DEFAULT_MODES: Final = ("run_modes",)
DONE: Final = "done"
STATE: Final = "state:"


def parse_thread_stream_modes(raw: Sequence[str] | None) -> frozenset[str]:
    """`stream_mode` (the SDK's name, repeated) or `stream_modes` (langgraph-api's, comma-separated)."""
    modes = [mode.strip() for value in raw or () for mode in value.split(",") if mode.strip()]
    allowed = get_args(ThreadStreamMode)
    for mode in modes:
        if mode not in allowed:
            raise UnprocessableError(f"Invalid stream mode: {mode}")
    return frozenset(modes or DEFAULT_MODES)


@dataclass(frozen=True, slots=True)
class JoinStart:
    """Where a join starts: the runs queued after `cursor`, the first from after `first_after` (None: from its
    next event on), the rest from their first event."""

    cursor: RunCursor
    first_run: uuid.UUID | None = None
    first_after: int | None = None


class ThreadJoin:
    """One client's join stream over a thread's runs."""

    def __init__(self, runs: ThreadRuns, thread_id: uuid.UUID, modes: frozenset[str]) -> None:
        self.runs = runs
        self.thread_id = thread_id
        self.modes = modes
        # Watched from the request on (not from the body's first step): no update made once the client has the
        # response's headers is missed.
        self.states = runs.pool.queued_runs.watch_state(thread_id) if "state_update" in modes else None

    async def start(self, last_event_id: str | None) -> JoinStart:
        rows = await self.runs.rows_after(self.thread_id, None)
        if last_event_id:
            return self._resume(rows, last_event_id)
        inflight = [row for row in rows if row.status in INFLIGHT]
        if inflight:  # the run under way goes on from now; the ones queued behind it from their start
            index = rows.index(inflight[0])
            cursor = None if index == 0 else (rows[index - 1].created_at, rows[index - 1].run_id)
            return JoinStart(cursor, inflight[0].run_id, None)
        last = rows[-1] if rows else None
        return JoinStart(None if last is None else (last.created_at, last.run_id))

    @staticmethod
    def _resume(rows: Sequence[RunRow], last_event_id: str) -> JoinStart:
        raw_run, _, raw_seq = last_event_id.partition(":")
        try:
            run_id = uuid.UUID(raw_run)
            index = [row.run_id for row in rows].index(run_id)
        except ValueError:
            return JoinStart(None, None, -1)  # never sent here: from the start
        if raw_seq == DONE or raw_seq.startswith(STATE):
            return JoinStart((rows[index].created_at, run_id))
        cursor = None if index == 0 else (rows[index - 1].created_at, rows[index - 1].run_id)
        try:
            return JoinStart(cursor, run_id, int(raw_seq))
        except ValueError:
            return JoinStart(cursor, run_id, -1)

    async def frames(self, start: JoinStart) -> AsyncIterator[bytes]:
        try:
            async for frame in self._frames(start):
                yield frame
        finally:
            if self.states is not None:
                self.runs.pool.queued_runs.unwatch_state(self.states)

    async def _frames(self, start: JoinStart) -> AsyncIterator[bytes]:
        async with aclosing(self.runs.runs_of(self.thread_id, start.cursor, states=self.states)) as rows:
            async for row in rows:
                if row is None:
                    yield sse.HEARTBEAT
                    continue
                if isinstance(row, StateUpdated):
                    frame = await self._state_frame(row)
                    if frame is not None:
                        yield frame
                    continue
                after = start.first_after if row.run_id == start.first_run else -1
                async with aclosing(self.runs.run_events(self.thread_id, row.run_id, after=after)) as items:
                    async for item in items:
                        frame = self._frame(row.run_id, item)
                        if frame is not None:
                            yield frame

    async def _state_frame(self, update: StateUpdated) -> bytes | None:
        try:
            state = await self.runs.state_at(self.thread_id, update.checkpoint_id)
        except NotFoundError:
            return None  # the thread (or its checkpoint) is gone, or the caller may no longer read it
        data = serde.dumps({"state": state, "thread_id": str(self.thread_id)})
        place = "" if update.after_run is None else f"{update.after_run}:"
        return sse.encode_event("state_update", data, f"{place}{STATE}{update.checkpoint_id}")

    def _frame(self, run_id: uuid.UUID, item: StreamEvent | RunEnded | None) -> bytes | None:
        if item is None:
            return sse.HEARTBEAT
        if isinstance(item, RunEnded):
            if "lifecycle" not in self.modes:
                return None
            data = serde.dumps({"run_id": run_id, "status": "run_done", "run_status": item.status})
            return sse.encode_event("metadata", data, f"{run_id}:{DONE}")
        if "run_modes" in self.modes or ("lifecycle" in self.modes and item.event == "metadata"):
            return sse.encode_event(item.event, item.data, f"{run_id}:{item.seq}")
        return None
