"""How many runs one process takes on: the number it executes at once (`N_JOBS_PER_WORKER`, or derived from the
memory it may use), and the admission of new runs once it executes all it can and the queue is full too (503 with
`Retry-After`, never a stall)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from aegra.db.database import Database
from aegra.db.queue import QueueStorage
from aegra.errors import OverloadedError
from aegra.settings import Settings

# A run is a coroutine that holds no connection between statements: a sleeping one costs tens of kB, a streaming one
# its subscriber buffers (bounded by STREAM_SUBSCRIBER_QUEUE_MAX). Budget a MiB each, out of a quarter of the memory.
RUN_MEMORY_BYTES: Final = 1024 * 1024
MEMORY_SHARE: Final = 0.25
MIN_RUNS: Final = 50
MAX_RUNS: Final = 5000
# cgroup v2, then v1: a container's limit is lower than the machine's memory.
CGROUP_LIMITS: Final = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))

RETRY_AFTER_SECONDS: Final = 2
RECOUNT_SECONDS: Final = 1.0  # how long a count of the queue is trusted (plus what this process queued since)


def memory_limit_bytes() -> int:
    """The memory this process may use: its cgroup's limit when it has one, else the machine's."""
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limits = [physical]
    for path in CGROUP_LIMITS:
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            limits.append(int(raw))
    return min(limits)


def runs_per_process(settings: Settings, *, memory_bytes: int | None = None) -> int:
    """How many runs this process executes at once: `N_JOBS_PER_WORKER` when set, else a MiB per run out of a
    quarter of its memory, between MIN_RUNS and MAX_RUNS."""
    if settings.n_jobs_per_worker is not None:
        return settings.n_jobs_per_worker
    memory = memory_limit_bytes() if memory_bytes is None else memory_bytes
    return max(MIN_RUNS, min(MAX_RUNS, int(memory * MEMORY_SHARE) // RUN_MEMORY_BYTES))


class RunAdmission:
    """Admits new runs while this process has room for them or the queue is below `queue_max` ready runs.

    The queue is only counted while the process is full, at most once per RECOUNT_SECONDS (plus the runs admitted
    here since), and again whenever that estimate reaches the limit, so a run is refused on a fresh count."""

    def __init__(self, database: Database, *, queue_max: int, is_full: Callable[[], bool]) -> None:
        self.database = database
        self.queue_max = queue_max
        self._is_full = is_full
        self._lock = asyncio.Lock()
        self._counted_at: float | None = None
        self._ready = 0
        self._admitted = 0  # admitted here since the last count

    async def admit(self, count: int = 1) -> None:
        """Raise OverloadedError (503, Retry-After) when `count` more runs would overfill a full process's queue."""
        if self.queue_max <= 0 or not self._is_full():
            return
        if self._stale() or self._ready + self._admitted + count > self.queue_max:
            await self._count()
        if self._ready + self._admitted + count > self.queue_max:
            raise OverloadedError(
                f"The server is at capacity: it executes all the runs it can and {self._ready} runs wait in the "
                f"queue (RUN_QUEUE_MAX={self.queue_max}). Retry later.",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        self._admitted += count

    def _stale(self) -> bool:
        return self._counted_at is None or time.monotonic() - self._counted_at > RECOUNT_SECONDS

    async def _count(self) -> None:
        asked = time.monotonic()
        async with self._lock:
            if self._counted_at is not None and self._counted_at >= asked:
                return  # another request counted while this one waited
            async with self.database.engine.connect() as conn:
                ready = await QueueStorage(conn).ready_runs()
            self._ready, self._admitted, self._counted_at = ready, 0, time.monotonic()
