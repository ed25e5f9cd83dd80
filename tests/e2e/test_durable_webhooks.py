"""Webhooks through the real SDK: a run with a `webhook` POSTs its ending to a local receiver, retried when the
receiver fails, and a receiver that never answers changes nothing for the run or the server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import UnprocessableEntityError

from aegra.settings import Settings

HI = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, n_jobs_per_worker=4, webhook_timeout_seconds=2, webhook_max_attempts=3)


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
