"""Durable webhooks through real `aegra serve` processes: a delivery is kept in PostgreSQL until it succeeds, so a
process that dies in the middle of an attempt leaves it to another process, which retries it after the dead one's
claim ran out; every attempt carries the same `Idempotency-Key`, so the receiver can drop the repeat."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import psycopg
import pytest

from aegra.db.url import psycopg_conninfo
from tests.e2e.durable_servers import PROCESS_TEST_TIMEOUT, aegra_serve, eventually

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)

# Loopback receivers (private addresses allowed), and a short deadline: a dead process's claim on a delivery runs
# out WEBHOOK_TIMEOUT_SECONDS + 5 s after it was taken.
WEBHOOK_ENV = {"WEBHOOK_BLOCK_PRIVATE": "false", "WEBHOOK_TIMEOUT_SECONDS": "2", "WEBHOOK_MAX_ATTEMPTS": "5"}


@dataclass
class Request:
    headers: dict[str, str]
    body: dict[str, object]


@dataclass
class Receiver:
    """Records each POST (headers and JSON body); answers `statuses` in order (None: never answers), then 200."""

    url: str = ""
    statuses: list[int | None] = field(default_factory=list)
    received: asyncio.Queue[Request] = field(default_factory=asyncio.Queue)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        )
        body = orjson.loads(await reader.readexactly(int(headers["content-length"])))
        status = self.statuses.pop(0) if self.statuses else 200
        self.received.put_nowait(Request(headers, body))
        if status is None:
            await reader.read()  # hold the connection until the sender goes away
        else:
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
            await writer.drain()
        writer.close()

    async def next(self) -> Request:
        return await asyncio.wait_for(self.received.get(), 120)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    async with server:
        yield found


async def _delivery(database_url: str, run_id: str) -> tuple[str, int, str]:
    """The run's delivery once it is settled: its id, attempts and status."""

    def read() -> tuple[str, int, str] | None:
        with psycopg.connect(psycopg_conninfo(database_url)) as conn:
            row = conn.execute(
                "SELECT delivery_id::text, attempts, status FROM webhook_deliveries WHERE run_id = %s", (run_id,)
            ).fetchone()
        return (str(row[0]), int(row[1]), str(row[2])) if row is not None else None

    async def settled() -> bool:
        found = await asyncio.to_thread(read)
        return found is not None and found[2] != "pending"

    await eventually(settled, within=60, what="the delivery to be settled")
    found = await asyncio.to_thread(read)
    assert found is not None
    return found


async def test_retries_of_a_webhook_carry_one_idempotency_key(database_url: str, receiver: Receiver) -> None:
    receiver.statuses = [503, 500]
    async with aegra_serve(database_url, **WEBHOOK_ENV) as server:
        run = await server.client.runs.create(None, "echo", input={"messages": []}, webhook=receiver.url)
        attempts = [await receiver.next() for _ in range(3)]
        delivery_id, count, status = await _delivery(database_url, run["run_id"])

    keys = {request.headers["idempotency-key"] for request in attempts}
    assert keys == {delivery_id}
    assert {request.body["run_id"] for request in attempts} == {run["run_id"]}
    assert (count, status) == (3, "delivered")


async def test_a_delivery_cut_short_by_a_crash_is_retried_by_another_process(
    database_url: str, receiver: Receiver
) -> None:
    receiver.statuses = [None]  # the first attempt never gets an answer: the process dies during it
    async with aegra_serve(database_url, **WEBHOOK_ENV) as first:
        thread_id = (await first.client.threads.create())["thread_id"]
        run = await first.client.runs.create(thread_id, "echo", input={"messages": []}, webhook=receiver.url)
        interrupted = await receiver.next()
        await first.stop(signal.SIGKILL)

    async with aegra_serve(database_url, **WEBHOOK_ENV) as second:
        retried = await receiver.next()
        ended = await second.client.runs.get(thread_id, run["run_id"])
        delivery_id, count, status = await _delivery(database_url, run["run_id"])

    assert ended["status"] == "success"
    assert interrupted.headers["idempotency-key"] == retried.headers["idempotency-key"] == delivery_id
    assert retried.body == interrupted.body
    assert (count, status) == (2, "delivered")
