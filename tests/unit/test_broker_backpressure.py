"""Bounded subscriber queues: a reader that stalls costs bounded memory, never slows the run or the other readers,
and catches up from the run's kept events when this process holds them."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from aegra.runs.broker import RunBroker, RunOutcome, StreamEvent, SubscriberLagging, Subscription
from aegra.runs.streams import StreamReaderDroppedError, slow_reader_ending

QUEUE_MAX = 16


async def _read_until_end(subscription: Subscription) -> list[StreamEvent]:
    """Everything a subscription yields until the run ends, catching up whenever it lags."""
    received: list[StreamEvent] = []
    while True:
        try:
            item = await subscription.next_event(30)
        except SubscriberLagging:
            missed = subscription.catch_up()
            assert missed is not None, "the run keeps its events: a lagging reader must be able to catch up"
            received.extend(missed)
            continue
        if item is None:
            return received
        received.append(item)


async def _drain_queued(subscription: Subscription) -> list[StreamEvent]:
    """What is queued now, up to the lag marker."""
    queued: list[StreamEvent] = []
    with pytest.raises(SubscriberLagging):
        while True:
            item = await subscription.next_event(1)
            assert item is not None
            queued.append(item)
    return queued


async def test_a_subscriber_that_never_reads_stays_bounded_while_the_run_and_other_readers_go_on() -> None:
    broker = RunBroker(subscriber_queue_max=QUEUE_MAX)
    run_id = uuid.uuid4()
    stalled = broker.subscribe(run_id)
    reader = broker.subscribe(run_id)
    channel = broker.start(run_id, keep_events=False)
    reading = asyncio.create_task(_read_until_end(reader))
    most_pending = 0

    for index in range(5000):
        broker.publish(channel, "custom", str(index).encode())
        most_pending = max(most_pending, stalled.pending)
        await asyncio.sleep(0)  # a graph yields to the event loop between chunks; so does this producer
    broker.finish(run_id, RunOutcome("success", b"{}"))
    everything = await asyncio.wait_for(reading, 30)
    outcome = await stalled.wait_outcome(1)
    queued = await _drain_queued(stalled)

    assert most_pending <= QUEUE_MAX + 1  # its events, then one marker: never more
    assert [item.seq for item in everything] == list(range(5000))
    assert outcome.status == "success"
    assert [item.seq for item in queued] == list(range(QUEUE_MAX))
    assert stalled.catch_up() is None  # nothing kept: this reader cannot be given what it missed


async def test_a_lagging_subscriber_of_a_kept_run_catches_up_in_order_and_follows_live_again() -> None:
    broker = RunBroker(subscriber_queue_max=QUEUE_MAX)
    run_id = uuid.uuid4()
    slow = broker.subscribe(run_id, modes=["custom"])
    channel = broker.start(run_id, keep_events=True)
    broker.publish(channel, "metadata", b"{}")
    for index in range(200):
        broker.publish(channel, "values" if index % 2 else "custom", str(index).encode())

    queued = await _drain_queued(slow)
    missed = slow.catch_up()
    broker.publish(channel, "custom", b"after")
    broker.finish(run_id, RunOutcome("success", b"{}"))
    rest = await _read_until_end(slow)

    assert missed is not None
    received = [item.seq for item in (*queued, *missed, *rest)]
    expected = [0, *(index + 1 for index in range(200) if index % 2 == 0), 201]  # metadata, custom ones, `after`
    assert received == expected
    assert slow.pending == 0


async def test_a_reader_can_catch_up_after_the_run_has_ended() -> None:
    broker = RunBroker(subscriber_queue_max=QUEUE_MAX)
    run_id = uuid.uuid4()
    slow = broker.subscribe(run_id)
    channel = broker.start(run_id, keep_events=True)
    for index in range(100):
        broker.publish(channel, "custom", str(index).encode())
    broker.finish(run_id, RunOutcome("success", b"{}"))

    received = await _read_until_end(slow)

    assert [item.seq for item in received] == list(range(100))


async def test_a_late_joiner_replaying_more_than_a_queue_catches_up_from_the_history() -> None:
    broker = RunBroker(subscriber_queue_max=QUEUE_MAX)
    run_id = uuid.uuid4()
    channel = broker.start(run_id, keep_events=True)
    for index in range(100):
        broker.publish(channel, "custom", str(index).encode())

    late = broker.subscribe(run_id, after_seq=9)
    broker.publish(channel, "custom", b"live")
    broker.finish(run_id, RunOutcome("success", b"{}"))
    received = await _read_until_end(late)

    assert [item.seq for item in received] == list(range(10, 101))


async def test_the_end_of_the_run_reaches_a_full_queue() -> None:
    broker = RunBroker(subscriber_queue_max=2)
    run_id = uuid.uuid4()
    subscription = broker.subscribe(run_id)
    channel = broker.start(run_id, keep_events=False)
    broker.publish(channel, "custom", b"0")
    broker.publish(channel, "custom", b"1")

    broker.finish(run_id, RunOutcome("success", b"{}"))

    assert [(await subscription.next_event(1)).seq for _ in range(2)] == [0, 1]  # type: ignore[union-attr]
    assert await subscription.next_event(1) is None


def test_a_slow_reader_of_a_run_executing_elsewhere_is_dropped_to_reconnect() -> None:
    broker = RunBroker(subscriber_queue_max=1)
    subscription = broker.subscribe(uuid.uuid4())  # its events come from run_events

    with pytest.raises(StreamReaderDroppedError):
        slow_reader_ending(subscription, resumable=True)


@pytest.mark.parametrize(
    ("executing_here", "resumable"),
    [
        (False, False),  # no ids sent: a reconnect could not say where it stopped
        (True, True),  # executing here without kept events: nothing to resume from
    ],
)
def test_a_slow_reader_that_cannot_resume_gets_a_final_error_event(executing_here: bool, resumable: bool) -> None:
    broker = RunBroker(subscriber_queue_max=1)
    run_id = uuid.uuid4()
    subscription = broker.subscribe(run_id)
    if executing_here:
        broker.start(run_id, keep_events=False)

    frame = slow_reader_ending(subscription, resumable=resumable)

    assert frame.startswith(b"event: error\r\ndata: ")
    assert b"StreamReaderTooSlow" in frame
    assert b"\r\nid: " not in frame
