"""A wake-up for the thread streams: a run was queued (here, or in another process that said so with NOTIFY), so a
stream following a thread looks for new runs on it now rather than at its next safety poll."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class QueuedRuns:
    """Owned by the worker pool (one per process): `announce` wakes every watcher at once."""

    def __init__(self) -> None:
        self._watchers: set[asyncio.Event] = set()

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
