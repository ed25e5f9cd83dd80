"""SSE framing, byte for byte as langgraph-api writes it (see research/wire 04v)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from aegra.runs import sse
from aegra.runs.broker import RunBroker, RunChannel, RunOutcome
from aegra.runs.streams import RunStreams


def test_event_is_event_then_data_then_blank_line_with_crlf() -> None:
    framed = sse.encode_event("metadata", b'{"run_id":"r","attempt":1}')

    assert framed == b'event: metadata\r\ndata: {"run_id":"r","attempt":1}\r\n\r\n'


def test_id_line_comes_after_data() -> None:
    framed = sse.encode_event("values", b"{}", "7")

    assert framed == b"event: values\r\ndata: {}\r\nid: 7\r\n\r\n"


def test_line_breaks_in_names_and_ids_are_dropped() -> None:
    framed = sse.encode_event("bad\r\nevent", b"1", "1\n2")

    assert framed == b"event: badevent\r\ndata: 1\r\nid: 12\r\n\r\n"


def test_subgraph_event_names_keep_their_namespace() -> None:
    framed = sse.encode_event("updates|child:53587c64-a45e-182f-b94d-1a105c62b3c6", b"{}")

    assert framed.startswith(b"event: updates|child:53587c64-a45e-182f-b94d-1a105c62b3c6\r\n")


def test_heartbeat_is_an_sse_comment() -> None:
    assert sse.HEARTBEAT == b": heartbeat\r\n\r\n"


async def test_events_queued_before_the_writer_wakes_go_out_in_one_chunk_in_order() -> None:
    broker, run_id, channel, body = _followed_run(resumable=True)
    published = [broker.publish(channel, "messages", f'["t{index}"]'.encode()) for index in range(5)]
    broker.finish(run_id, RunOutcome("success", b"{}"))

    chunks = [chunk async for chunk in body]

    assert chunks == [b"".join(sse.encode_event(item.event, item.data, str(item.seq)) for item in published)]


async def test_a_stream_writer_sends_each_event_that_arrives_while_it_waits() -> None:
    broker, run_id, channel, body = _followed_run(resumable=False)
    reading = asyncio.create_task(anext(body))

    broker.publish(channel, "custom", b"1")
    first = await reading
    broker.finish(run_id, RunOutcome("success", b"{}"))
    rest = [chunk async for chunk in body]

    assert first == sse.encode_event("custom", b"1")
    assert rest == []


def _followed_run(*, resumable: bool) -> tuple[RunBroker, uuid.UUID, RunChannel, AsyncIterator[bytes]]:
    """A started run on a fresh broker, and the SSE body of a subscription to it."""
    broker = RunBroker()
    run_id = uuid.uuid4()
    subscription = broker.subscribe(run_id)
    channel = broker.start(run_id, keep_events=False)
    streams = RunStreams(broker, None)  # type: ignore[arg-type]  # the pool is only used to cancel on disconnect
    return broker, run_id, channel, streams.sse_body(subscription, resumable=resumable, cancel_on_disconnect=False)
