"""Giving memory back to the system once the runs executing in a process have all ended.

A burst of runs in flight at once (hundreds, each holding LangGraph's per-invocation machinery) raises the heap,
and most of it is freed when they end; but glibc keeps freed memory in its arenas and only returns the top of each
heap on its own. `malloc_trim(0)` returns every whole free page: after compare.py's workloads (500 background runs
at once among them) about 5 MB under Python's own small-object allocator, about 19 MB with PYTHONMALLOC=malloc
(bench/README.md). The rest is freed blocks inside Python's allocator arenas, which hold on to an arena until every
object in it is gone.

`IdleTrim` runs `malloc_trim(0)` (in a thread: it releases the GIL) when no run has executed here for a moment
after the last one ended. Only on Linux with glibc; elsewhere it does nothing."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import Final

# How long the process must stay without runs before it trims: a run that starts meanwhile postpones it, so a
# steady stream of runs never pays for it.
IDLE_TRIM_SECONDS: Final = 2.0


def malloc_trim() -> Callable[[], int] | None:
    """glibc's `malloc_trim(0)` as a function (1 if it returned memory), or None without glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc_version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):  # the name is unknown to this C library (musl)
        return None
    if not libc_version.startswith("glibc"):
        return None
    import ctypes  # only where it is used

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


class IdleTrim:
    """Call `release` (default: `malloc_trim(0)`) once the process has been without runs for `delay` seconds.

    `busy()` when a run starts, `idle()` when the last one ends; `stop()` cancels a pending trim."""

    def __init__(self, *, delay: float = IDLE_TRIM_SECONDS, release: Callable[[], int] | None = None) -> None:
        self.delay = delay
        self._release = release
        self._resolved = release is not None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.trims = 0  # how many times it gave memory back (or tried to)

    def busy(self) -> None:
        """A run started: no trim while it executes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def idle(self) -> None:
        """The last run executing here ended: trim after `delay` seconds unless another one starts."""
        self.busy()
        self._timer = asyncio.get_running_loop().call_later(self.delay, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._trim(), name="aegra-heap-trim")

    async def _trim(self) -> None:
        if not self._resolved:
            self._release, self._resolved = malloc_trim(), True
        if self._release is None:
            return
        await asyncio.to_thread(self._release)
        self.trims += 1

    async def stop(self) -> None:
        self.busy()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
