"""Idle keep-alive connections of a real `aegra serve`: the client, not the server, decides when one is closed."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from tests.e2e.durable_servers import PROCESS_TEST_TIMEOUT, aegra_serve

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)

# httpx (the Python SDK's transport) expires idle connections after 5 s; the server must outlast that.
CLIENT_EXPIRY_SECONDS = 5.0
REQUEST = b"GET /ok HTTP/1.1\r\nHost: aegra\r\n\r\n"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(REQUEST)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    return head + await reader.readexactly(length)


async def test_an_idle_connection_stays_open_longer_than_the_clients_own_expiry(database_url: str) -> None:
    async with aegra_serve(database_url) as server:
        address = urlsplit(server.url)
        assert address.hostname is not None and address.port is not None
        await server.client.http.get("/ok")  # listening: uvicorn logs startup complete just before it listens
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        try:
            first = await _answer(reader, writer)

            with pytest.raises(TimeoutError):  # the server closing the idle connection would end this read early
                await asyncio.wait_for(reader.read(1), timeout=CLIENT_EXPIRY_SECONDS + 1)
            second = await _answer(reader, writer)
        finally:
            writer.close()

    assert first.startswith(b"HTTP/1.1 200")
    assert second.startswith(b"HTTP/1.1 200")
    assert second.endswith(b'{"ok":true}')
