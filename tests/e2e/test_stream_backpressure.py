"""Slow stream readers against a real server with small subscriber queues: the run finishes whatever the reader
does, a resumable stream still delivers every event, and a live-only one ends with a clear `error` event.

A reader is made slow the way a stalled client is: it stops reading its response. Small socket buffers on both
ends make the server feel that after a few dozen events instead of megabytes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from aegra.app import create_app
from aegra.config import AegraConfig
from aegra.settings import Settings
from tests.e2e.durable_servers import PROCESS_TEST_TIMEOUT, aegra_serve

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)

QUEUE_MAX = 32
TOKENS = 2000
SMALL_BUFFER = 32768
HI = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, n_jobs_per_worker=4, stream_subscriber_queue_max=QUEUE_MAX)


@pytest.fixture(scope="module")
async def server_url(settings: Settings, aegra_config: AegraConfig) -> AsyncIterator[str]:
    """The module's server, on a socket whose connections get a small send buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)  # inherited by every accepted connection
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, aegra_config), log_config=None, lifespan="on", timeout_graceful_shutdown=5)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    sock.close()


def _slow_http(server_url: str) -> httpx.AsyncClient:
    """An HTTP client whose connections take little data from the network until they are read."""
    transport = httpx.AsyncHTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)])
    return httpx.AsyncClient(base_url=server_url, transport=transport, timeout=httpx.Timeout(120))


def _run_body(*, resumable: bool) -> dict[str, Any]:
    return {
        "assistant_id": "tokens",
        "input": HI,
        "stream_mode": ["messages-tuple"],
        "stream_resumable": resumable,
        "config": {"configurable": {"tokens": TOKENS}},
    }


def _parse(raw: str) -> list[dict[str, str]]:
    """SSE blocks as {event, data, id}; keep-alive comments dropped."""
    blocks = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":"))
        if fields:
            blocks.append(fields)
    return blocks


async def _stalled_stream(client: LangGraphClient, server_url: str, *, resumable: bool) -> tuple[str, str, str]:
    """Start a streamed run and read nothing of it until the run has ended; then read it all.
    Returns (thread id, run id, what the stream said)."""
    thread_id = (await client.threads.create())["thread_id"]
    async with (
        _slow_http(server_url) as http,
        http.stream("POST", f"/threads/{thread_id}/runs/stream", json=_run_body(resumable=resumable)) as response,
    ):
        run_id = response.headers["content-location"].rsplit("/", 1)[-1]
        await client.runs.join(thread_id, run_id)  # the run ends while its stream is not being read
        raw = (await response.aread()).decode()
    return thread_id, run_id, raw


async def test_a_stalled_live_only_reader_gets_an_error_event_and_the_run_finishes(
    client: LangGraphClient, server_url: str
) -> None:
    thread_id, run_id, raw = await _stalled_stream(client, server_url, resumable=False)
    run = await client.runs.get(thread_id, run_id)
    state = await client.threads.get_state(thread_id)

    blocks = _parse(raw)
    assert run["status"] == "success"
    assert state["values"]["messages"][-1]["content"].count(" ") == TOKENS  # the run was not slowed or cut
    assert blocks[0]["event"] == "metadata"
    assert blocks[-1]["event"] == "error"
    assert "StreamReaderTooSlow" in blocks[-1]["data"]
    assert "join_stream" in blocks[-1]["data"]
    assert all(block["event"] == "messages" for block in blocks[1:-1])
    assert 0 < len(blocks) - 2 < TOKENS  # the tokens it had read before falling behind


async def test_a_stalled_resumable_reader_still_gets_every_event_in_order(
    client: LangGraphClient, server_url: str
) -> None:
    thread_id, run_id, raw = await _stalled_stream(client, server_url, resumable=True)
    async with httpx.AsyncClient(base_url=server_url, timeout=60) as http:
        kept = await http.get(f"/threads/{thread_id}/runs/{run_id}/stream", headers={"Last-Event-ID": "-1"})

    blocks = _parse(raw)
    assert [block["id"] for block in blocks] == [block["id"] for block in _parse(kept.text)]
    assert [int(block["id"]) for block in blocks] == list(range(len(blocks)))
    assert sum(block["event"] == "messages" for block in blocks) >= TOKENS
    assert all(block["event"] != "error" for block in blocks)


async def test_the_sdk_reading_a_resumable_stream_slowly_misses_nothing(
    client: LangGraphClient, server_url: str
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    slow = get_client(url=server_url, api_key=None)
    await slow.http.client.aclose()
    slow.http.client = _slow_http(server_url)
    try:
        parts = slow.runs.stream(
            thread_id,
            "tokens",
            input=HI,
            stream_mode="messages-tuple",
            stream_resumable=True,
            config={"configurable": {"tokens": TOKENS}},
        )
        first = await anext(parts)
        await client.runs.join(thread_id, first.data["run_id"])  # the reader pauses until the run has ended
        rest = [part async for part in parts]
    finally:
        await slow.http.client.aclose()

    text = "".join(part.data[0]["content"] for part in rest if part.event == "messages")
    assert first.event == "metadata"
    assert text.split() == [f"t{index}" for index in range(TOKENS)]
    assert all(part.event != "error" for part in rest)


async def test_a_slow_follower_of_a_run_in_another_process_is_dropped_and_the_sdk_resumes_it(
    database_url: str,
) -> None:
    async with (
        aegra_serve(database_url) as executor,
        aegra_serve(database_url, STREAM_SUBSCRIBER_QUEUE_MAX="2") as follower,
    ):
        thread_id = (await executor.client.threads.create())["thread_id"]
        streamed = executor.client.runs.stream(
            thread_id, "tokens", input=HI, stream_mode="messages-tuple", config={"configurable": {"tokens": 3000}}
        )
        metadata = await anext(streamed)
        run_id = metadata.data["run_id"]
        reading = asyncio.create_task(_consume(streamed))  # the run executes where it was streamed from

        # Stored events reach the follower in batches larger than its queue: it falls behind at every batch.
        followed = [part async for part in follower.client.runs.join_stream(thread_id, run_id, last_event_id="-1")]
        await reading
        everything = [part async for part in executor.client.runs.join_stream(thread_id, run_id, last_event_id="-1")]

    assert [part.id for part in followed] == [part.id for part in everything]
    assert "stream reader too slow; dropping it to reconnect" in follower.text
    assert "Traceback" not in executor.text


async def _consume(parts: AsyncIterator[Any]) -> None:
    async for _ in parts:
        pass
