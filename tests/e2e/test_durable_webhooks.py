"""Webhooks through the real SDK: a run with a `webhook` POSTs its ending to a local receiver, retried when the
receiver fails, and a receiver that never answers changes nothing for the run or the server. The receivers listen
on 127.0.0.1, so this module's server opts out of the private-address block (WEBHOOK_BLOCK_PRIVATE=false); a
server with default settings refuses them. Receivers that answer with an endless or a trickling answer are hung
up on by the server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import UnprocessableEntityError

from aegra.settings import Settings
from tests.conftest import fresh_database
from tests.e2e.durable_servers import aegra_serve, eventually

HI = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        n_jobs_per_worker=4,
        webhook_timeout_seconds=2,
        webhook_max_attempts=3,
        webhook_block_private=False,  # the receivers listen on loopback
    )


@dataclass
class Receiver:
    """A tiny HTTP server that records POSTed JSON bodies and answers with the statuses it is told to, in order."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: asyncio.Queue[tuple[str, dict[str, Any]]] = field(default_factory=asyncio.Queue)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
        body = await reader.readexactly(length)
        status = self.answers.pop(0) if self.answers else 200
        self.received.put_nowait((lines[0], orjson.loads(body)))
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    async def next(self) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self.received.get(), 20)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    holder: list[Receiver] = []
    server = await asyncio.start_server(lambda r, w: holder[0].handle(r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    holder.append(Receiver(f"http://127.0.0.1:{port}/hooks/runs?token=secret"))
    async with server:
        yield holder[0]


async def test_a_run_posts_its_ending_and_values_to_its_webhook(client: LangGraphClient, receiver: Receiver) -> None:
    thread_id = (await client.threads.create())["thread_id"]

    run = await client.runs.create(thread_id, "echo", input=HI, webhook=receiver.url, metadata={"k": "v"})
    request_line, payload = await receiver.next()

    assert request_line == "POST /hooks/runs?token=secret HTTP/1.1"
    assert payload["run_id"] == run["run_id"]
    assert payload["thread_id"] == thread_id
    assert payload["status"] == "success"
    assert payload["metadata"]["k"] == "v"
    assert payload["values"]["messages"][-1]["content"] == "echo: hi"
    assert payload["error"] is None
    assert {"run_started_at", "run_ended_at", "webhook_sent_at", "kwargs", "attempt"} <= set(payload)


async def test_a_failed_run_posts_its_error(client: LangGraphClient, receiver: Receiver) -> None:
    thread_id = (await client.threads.create())["thread_id"]

    await client.runs.wait(thread_id, "boom", input=HI, webhook=receiver.url, raise_error=False)
    _, payload = await receiver.next()

    assert payload["status"] == "error"
    assert payload["error"] == {"error": "ValueError", "message": "boom"}
    assert payload["values"] is None


async def test_a_receiver_that_fails_gets_the_webhook_again(client: LangGraphClient, receiver: Receiver) -> None:
    receiver.answers = [503]

    await client.runs.wait(None, "echo", input=HI, webhook=receiver.url)
    first = await receiver.next()
    second = await receiver.next()

    assert first[1]["run_id"] == second[1]["run_id"]


async def test_an_unreachable_webhook_changes_nothing_for_the_run(client: LangGraphClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nothing listens there once the socket closes
    thread_id = (await client.threads.create())["thread_id"]

    output = await client.runs.wait(thread_id, "echo", input=HI, webhook=f"http://127.0.0.1:{closed_port}/x")
    again = await client.runs.wait(thread_id, "echo", input=HI)

    assert output["messages"][-1]["content"] == "echo: hi"
    assert again["messages"][-1]["content"] == "echo: hi"


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "not a url"])
async def test_a_webhook_that_is_not_http_is_unprocessable(client: LangGraphClient, url: str) -> None:
    thread_id = (await client.threads.create())["thread_id"]

    with pytest.raises(UnprocessableEntityError, match="webhook must be an http"):
        await client.runs.create(thread_id, "echo", input=HI, webhook=url)


async def test_a_server_with_default_settings_refuses_a_loopback_webhook(
    pg_server_url: str, receiver: Receiver
) -> None:
    # A database of its own, not this module's: the module's server would take the run.
    with fresh_database(pg_server_url, "webhook_defaults") as database_url:
        async with aegra_serve(database_url) as server:
            thread_id = (await server.client.threads.create())["thread_id"]
            run = await server.client.runs.create(thread_id, "echo", input=HI, webhook=receiver.url)
            await server.client.runs.join(thread_id, run["run_id"])
            finished = await server.client.runs.get(thread_id, run["run_id"])

            async def refused() -> bool:
                return any("webhook refused" in line and run["run_id"] in line for line in server.output)

            await eventually(refused, what="the refusal in the server's log")
            line = next(line for line in server.output if "webhook refused" in line)

    assert finished["status"] == "success"
    assert "127.0.0.1 is a loopback address" in line
    assert "WEBHOOK_BLOCK_PRIVATE=false" in line
    assert "token=secret" not in line
    assert receiver.received.empty()  # a refusal is final: nothing was, or will be, sent


@dataclass
class Hangup:
    """A receiver that reads the request and then answers in a way that never ends, until the server hangs up."""

    connections: int = 0
    hung_up: asyncio.Queue[int] = field(default_factory=asyncio.Queue)  # bytes of answer sent before each hang-up


@contextlib.asynccontextmanager
async def _serve(answer: Callable[[asyncio.StreamWriter], Awaitable[int]]) -> AsyncIterator[tuple[str, Hangup]]:
    seen = Hangup()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        sent = await answer(writer)
        seen.hung_up.put_nowait(sent)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook", seen


async def _endless_body(writer: asyncio.StreamWriter) -> int:
    """A 2xx answer announcing a 1 TiB body and sending it as fast as the server takes it."""
    writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {1 << 40}\r\n\r\n".encode())
    chunk, sent = b"x" * 65536, 0
    try:
        while True:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except ConnectionError:
        return sent


async def _trickling_head(writer: asyncio.StreamWriter) -> int:
    """An answer whose header never ends, a byte at a time: each read succeeds, so only a deadline ends it."""
    writer.write(b"HTTP/1.1 200 OK\r\nx-slow: ")
    sent = 0
    try:
        while True:
            writer.write(b"a")
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.05)  # the receiver's pace, not a wait for the test
            if writer.transport.is_closing():
                return sent
    except ConnectionError:
        return sent


@pytest.fixture
async def endless_body() -> AsyncIterator[tuple[str, Hangup]]:
    async with _serve(_endless_body) as served:
        yield served


@pytest.fixture
async def trickling_head() -> AsyncIterator[tuple[str, Hangup]]:
    async with _serve(_trickling_head) as served:
        yield served


async def test_an_endless_answer_body_is_not_read(client: LangGraphClient, endless_body: tuple[str, Hangup]) -> None:
    url, seen = endless_body

    output = await client.runs.wait(None, "echo", input=HI, webhook=url)
    sent = await asyncio.wait_for(seen.hung_up.get(), 60)

    assert output["messages"][-1]["content"] == "echo: hi"
    assert seen.connections == 1
    assert sent < 64 * 1024 * 1024  # what the socket buffers took: the server hung up instead of reading on


async def test_an_answer_that_trickles_forever_is_cut_at_the_deadline_and_retried(
    client: LangGraphClient, trickling_head: tuple[str, Hangup], settings: Settings
) -> None:
    url, seen = trickling_head

    output = await client.runs.wait(None, "echo", input=HI, webhook=url)
    for _ in range(settings.webhook_max_attempts):
        await asyncio.wait_for(seen.hung_up.get(), 60)
    again = await client.runs.wait(None, "echo", input=HI)

    assert output["messages"][-1]["content"] == "echo: hi"
    assert again["messages"][-1]["content"] == "echo: hi"
    assert seen.connections == settings.webhook_max_attempts
