"""Wake-ups for the thread streams, here or in another process that said so with NOTIFY: a run was queued, so a
stream following a thread looks for new runs on it now rather than at its next safety poll; a thread's state was
updated (`POST /threads/{id}/state`), so the join streams of that thread that asked for `state_update` send it. And
the worker pool's claim wake-ups on such notices, one per window however many notices a burst brings."""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StateUpdated:
    """A thread's state was updated: the checkpoint the update wrote, and the thread's last run at that moment
    (None: it had none), which places the update among the thread's runs (no run was in flight then)."""

    thread_id: uuid.UUID
    checkpoint_id: str
    after_run: uuid.UUID | None

    def encode(self) -> str:
        """`<thread_id>:<checkpoint_id>:<run_id or nothing>` (a NOTIFY body; checkpoint ids hold no colon)."""
        return f"{self.thread_id}:{self.checkpoint_id}:{self.after_run or ''}"

    @classmethod
    def decode(cls, body: str) -> StateUpdated | None:
        """The notice `encode` wrote; None for anything else."""
        raw_thread, _, rest = body.partition(":")
        checkpoint_id, _, raw_run = rest.partition(":")
        try:
            return cls(uuid.UUID(raw_thread), checkpoint_id, uuid.UUID(raw_run) if raw_run else None)
        except ValueError:
            return None


class StateWatch:
    """The state updates of one thread a join stream has still to send, in the order they came."""

    def __init__(self, thread_id: uuid.UUID) -> None:
        self.thread_id = thread_id
        self.arrived = asyncio.Event()
        self._updates: deque[StateUpdated] = deque()

    def add(self, update: StateUpdated) -> None:
        self._updates.append(update)
        self.arrived.set()

    def take(self) -> list[StateUpdated]:
        """Every update not taken yet (and `arrived` is cleared)."""
        self.arrived.clear()
        taken = list(self._updates)
        self._updates.clear()
        return taken


class QueuedRuns:
    """Owned by the worker pool (one per process, `origin` its worker id): `announce` wakes every watcher at once,
    `state_updated` hands the update to the watches of its thread."""

    def __init__(self, origin: str = "") -> None:
        self.origin = origin
        self._watchers: set[asyncio.Event] = set()
        # Held weakly: a stream whose body never started (its client left at once) cannot unwatch.
        self._states: dict[uuid.UUID, weakref.WeakSet[StateWatch]] = {}

    def announce(self) -> None:
        for watcher in self._watchers:
            watcher.set()

    @contextmanager
    def watch(self) -> Iterator[asyncio.Event]:
        """An event set by the next `announce`; create it before looking, so nothing queued meanwhile is missed."""
        watcher = asyncio.Event()
        self._watchers.add(watcher)
        try:
            yield watcher
        finally:
            self._watchers.discard(watcher)

    def state_updated(self, update: StateUpdated) -> None:
        watches = self._states.get(update.thread_id)
        if not watches:
            self._states.pop(update.thread_id, None)
            return
        for state_watch in watches:
            state_watch.add(update)

    def watch_state(self, thread_id: uuid.UUID) -> StateWatch:
        """The state updates of a thread from now on, until `unwatch_state` (or the watch is dropped)."""
        state_watch = StateWatch(thread_id)
        self._states.setdefault(thread_id, weakref.WeakSet()).add(state_watch)
        return state_watch

    def unwatch_state(self, state_watch: StateWatch) -> None:
        watches = self._states.get(state_watch.thread_id)
        if watches is None:
            return
        watches.discard(state_watch)
        if not watches:
            del self._states[state_watch.thread_id]


class NoticeWindow:
    """Wakes the claim loop for the notices of other processes (every process hears every one): for the first at
    once, unless the loop claimed less than `window_seconds` ago; then once at the end of the window, for all the
    notices that came meanwhile."""

    def __init__(self, wake: Callable[[], None], *, window_seconds: float) -> None:
        self._wake = wake
        self.window_seconds = window_seconds
        self._claimed_at = -window_seconds  # monotonic time of the last claim
        self._due: asyncio.TimerHandle | None = None

    def claimed(self) -> None:
        """The claim loop sends a claim now (it sees every run queued so far)."""
        self._claimed_at = time.monotonic()

    def notice(self) -> None:
        if self._due is not None:
            return  # a wake-up is due at the end of the window already
        wait = self._claimed_at + self.window_seconds - time.monotonic()
        if wait <= 0:
            self._wake()
            return
        self._due = asyncio.get_running_loop().call_later(wait, self._window_ended)

    def cancel(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None

    def _window_ended(self) -> None:
        self._due = None
        self._wake()
