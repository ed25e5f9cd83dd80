"""The Redis relay between processes, on the Redis of this machine (REDIS_URL, else 127.0.0.1:6379): notices
reach other processes, and a run's events reach the processes following it, in order and byte for byte."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from aegra.runs.events import StreamEvent
from aegra.runs.relay import RedisRelay, channel_prefix, decode_event, encode_event
from tests.e2e.durable_servers import redis_url_or_skip


@pytest.fixture
async def redis_url() -> str:
    return await redis_url_or_skip()


class Inbox:
    """What one relay received, with a way to wait for it."""

    def __init__(self) -> None:
        self.notices: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.events: asyncio.Queue[tuple[uuid.UUID, StreamEvent]] = asyncio.Queue()

    def notice(self, channel: str, payload: str) -> None:
        self.notices.put_nowait((channel, payload))

    def event(self, run_id: uuid.UUID, item: StreamEvent) -> None:
        self.events.put_nowait((run_id, item))


async def _started(url: str, prefix: str = "aegra") -> tuple[RedisRelay, Inbox]:
    relay, inbox = RedisRelay(url, prefix=prefix), Inbox()
    relay.start(on_notice=inbox.notice, on_event=inbox.event)
    await asyncio.wait_for(relay.listening.wait(), 5)
    return relay, inbox


def test_events_survive_the_wire_encoding_byte_for_byte() -> None:
    item = StreamEvent(1_000_003, "updates|child:1f2e", b'{"a":"line\\nbreak \xc3\xa9"}')

    assert decode_event(encode_event(item)) == item


async def test_a_notice_and_a_followed_runs_events_reach_the_other_process(redis_url: str) -> None:
    sender, _ = await _started(redis_url)
    receiver, inbox = await _started(redis_url)
    run_id, other_run = uuid.uuid4(), uuid.uuid4()
    try:
        receiver.follow(run_id)
        await receiver.settled()

        sender.notice("aegra_run_cancel", f"worker-a|{run_id}:interrupt")
        sender.event(other_run, StreamEvent(0, "values", b"{}"))  # not followed: never delivered
        for seq in range(5):
            sender.event(run_id, StreamEvent(seq, "values", f'{{"n":{seq}}}'.encode()))
        notice = await asyncio.wait_for(inbox.notices.get(), 5)
        events = [await asyncio.wait_for(inbox.events.get(), 5) for _ in range(5)]
    finally:
        await sender.aclose()
        await receiver.aclose()

    assert notice == ("aegra_run_cancel", f"worker-a|{run_id}:interrupt")
    assert [(rid, item.seq, item.data) for rid, item in events] == [
        (run_id, seq, f'{{"n":{seq}}}'.encode()) for seq in range(5)
    ]


async def test_deployments_with_different_prefixes_never_hear_each_other(redis_url: str) -> None:
    run_id = uuid.uuid4()
    our_prefix, their_prefix = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    ours, _ = await _started(redis_url, prefix=our_prefix)
    colleague, our_inbox = await _started(redis_url, prefix=our_prefix)
    theirs, their_inbox = await _started(redis_url, prefix=their_prefix)
    their_colleague, _ = await _started(redis_url, prefix=their_prefix)
    try:
        for relay in (colleague, theirs):
            relay.follow(run_id)
            await relay.settled()

        ours.notice("aegra_run_cancel", f"worker-a|{run_id}:interrupt")
        ours.event(run_id, StreamEvent(0, "values", b"{}"))
        notice = await asyncio.wait_for(our_inbox.notices.get(), 5)
        event = await asyncio.wait_for(our_inbox.events.get(), 5)
        # Published after ours: once their process hears it, it would have heard ours first.
        their_colleague.notice("aegra_run_done", f"worker-b|{run_id}")
        marker = await asyncio.wait_for(their_inbox.notices.get(), 5)
    finally:
        for relay in (ours, colleague, theirs, their_colleague):
            await relay.aclose()

    assert notice == ("aegra_run_cancel", f"worker-a|{run_id}:interrupt")
    assert event == (run_id, StreamEvent(0, "values", b"{}"))
    assert marker == ("aegra_run_done", f"worker-b|{run_id}")
    assert their_inbox.notices.empty() and their_inbox.events.empty()


@pytest.mark.parametrize(
    ("configured", "url", "prefix"),
    [
        ("team-a", "postgresql://u:p@db:5432/aegra", "team-a"),
        (None, "postgresql://u:p@db.internal:6543/prod", "aegra:db.internal:6543/prod"),
        (None, "postgresql://u@localhost/aegra", "aegra:localhost:5432/aegra"),
        (None, "not a url", "aegra"),
    ],
)
def test_the_channel_prefix_is_the_setting_else_named_after_the_database(
    configured: str | None, url: str, prefix: str
) -> None:
    assert channel_prefix(configured, url) == prefix
