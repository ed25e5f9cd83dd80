"""The process gives freed memory back (glibc `malloc_trim`) once its runs have all ended, never while one runs."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from aegra.heap import IdleTrim, malloc_trim

GLIBC = sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")


class Releases:
    """A stand-in for `malloc_trim(0)` that counts its calls (from the worker thread) and signals each one."""

    def __init__(self) -> None:
        self.calls = 0
        self.loop = asyncio.get_running_loop()
        self.called = asyncio.Event()

    def __call__(self) -> int:
        self.calls += 1
        self.loop.call_soon_threadsafe(self.called.set)
        return 1


async def test_the_heap_is_trimmed_once_the_process_stays_without_runs() -> None:
    releases = Releases()
    trim = IdleTrim(delay=0.01, release=releases)

    trim.idle()
    await asyncio.wait_for(releases.called.wait(), 5)
    await trim.stop()

    assert releases.calls == 1
    assert trim.trims == 1


async def test_a_run_starting_within_the_delay_postpones_the_trim() -> None:
    releases = Releases()
    trim = IdleTrim(delay=0.05, release=releases)

    trim.idle()
    trim.busy()  # a run started before the delay ran out
    waited = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, waited.set)
    await waited.wait()
    assert releases.calls == 0

    trim.idle()  # it ended: trim now, once
    await asyncio.wait_for(releases.called.wait(), 5)
    await trim.stop()
    assert releases.calls == 1


async def test_stop_cancels_a_pending_trim() -> None:
    releases = Releases()
    trim = IdleTrim(delay=0.05, release=releases)

    trim.idle()
    await trim.stop()
    waited = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, waited.set)
    await waited.wait()

    assert releases.calls == 0


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_malloc_trim_is_glibcs_on_glibc_linux() -> None:
    release = malloc_trim()

    assert release is not None
    assert release() in {0, 1}


@pytest.mark.skipif(GLIBC, reason="only without glibc")
def test_without_glibc_there_is_nothing_to_trim() -> None:
    assert malloc_trim() is None
