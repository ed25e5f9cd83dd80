"""The thread streams' wake-ups for state updates (`aegra.runs.queued`): the NOTIFY body they travel as, and who
gets them in a process."""

from __future__ import annotations

import gc
import uuid

from aegra.runs.queued import QueuedRuns, StateUpdated

THREAD = uuid.UUID("00000000-0000-4000-8000-000000000001")
RUN = uuid.UUID("00000000-0000-4000-8000-000000000002")


def test_a_state_update_notice_reads_back_as_written() -> None:
    with_run = StateUpdated(THREAD, "1f0-abc", RUN)
    without_run = StateUpdated(THREAD, "1f0-abc", None)

    assert StateUpdated.decode(with_run.encode()) == with_run
    assert StateUpdated.decode(without_run.encode()) == without_run


def test_a_malformed_state_update_notice_is_ignored() -> None:
    assert StateUpdated.decode("not-a-uuid:cp:") is None
    assert StateUpdated.decode(f"{THREAD}:cp:not-a-uuid") is None


def test_a_state_update_reaches_only_the_watches_of_its_thread() -> None:
    notices = QueuedRuns("worker")
    mine, other = notices.watch_state(THREAD), notices.watch_state(RUN)
    update = StateUpdated(THREAD, "cp", None)

    notices.state_updated(update)

    assert mine.arrived.is_set() and not other.arrived.is_set()
    assert mine.take() == [update]
    assert not mine.arrived.is_set() and mine.take() == []


def test_an_unwatched_or_dropped_watch_gets_nothing_more() -> None:
    notices = QueuedRuns("worker")
    unwatched = notices.watch_state(THREAD)
    notices.unwatch_state(unwatched)
    notices.watch_state(THREAD)  # dropped at once: held weakly, so it cannot linger
    gc.collect()

    notices.state_updated(StateUpdated(THREAD, "cp", None))

    assert unwatched.take() == []
    assert notices._states == {}
