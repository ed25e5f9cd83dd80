"""The claim loop's wake-ups on other processes' notices of queued runs: one per window, however many a burst
brings, and none lost."""

from __future__ import annotations

import asyncio

from aegra.runs.queued import NoticeWindow


class Wakes:
    """Counts the wake-ups, and lets a test await the next one."""

    def __init__(self) -> None:
        self.count = 0
        self.woken = asyncio.Event()

    def wake(self) -> None:
        self.count += 1
        self.woken.set()


async def test_a_notice_wakes_at_once_when_no_claim_was_sent_within_the_window() -> None:
    wakes = Wakes()
    window = NoticeWindow(wakes.wake, window_seconds=60)

    window.notice()

    assert wakes.count == 1


async def test_a_burst_of_notices_right_after_a_claim_wakes_once_at_the_end_of_the_window() -> None:
    wakes = Wakes()
    window = NoticeWindow(wakes.wake, window_seconds=0.05)
    window.claimed()

    for _ in range(100):
        window.notice()
    woken_early = wakes.count
    await asyncio.wait_for(wakes.woken.wait(), timeout=10)

    assert (woken_early, wakes.count) == (0, 1)


async def test_a_cancelled_window_wakes_no_one() -> None:
    wakes = Wakes()
    window = NoticeWindow(wakes.wake, window_seconds=0.01)
    window.claimed()
    window.notice()

    window.cancel()
    await asyncio.sleep(0.05)  # past the window: the wake-up it would have made

    assert wakes.count == 0
