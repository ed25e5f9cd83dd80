"""A worker cut off from PostgreSQL while the rest of the deployment still reaches it: it keeps its leases only
while it can heartbeat, stopping its runs just before they run out, so another worker that takes a run over never
executes it at the same time. The cut-off worker reaches the database through a TCP proxy this module breaks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from aegra.db.url import psycopg_conninfo
from tests.conftest import fresh_database
from tests.e2e.durable_servers import PROCESS_TEST_TIMEOUT, aegra_serve, aegra_worker, eventually

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)

LEASES = {
    "RUN_LEASE_SECONDS": "5",
    "RUN_HEARTBEAT_SECONDS": "0.5",
    "RUN_REAPER_SECONDS": "0.3",
    "RUN_SHUTDOWN_GRACE_SECONDS": "0",
    "DB_CONNECT_TIMEOUT_SECONDS": "2",
}


class Proxy:
    """Forwards TCP connections to PostgreSQL until `cut`: then every connection drops and new ones are refused."""

    def __init__(self, host: str, port: int, socket_dir: str | None) -> None:
        self.target = (host, port)
        self.socket_path = f"{socket_dir}/.s.PGSQL.{port}" if socket_dir else None
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.broken = False

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.socket_path is not None:  # the embedded PostgreSQL listens on a Unix socket only
            up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        if self.broken:  # accepted while the proxy was being cut
            writer.transport.abort()
            up_writer.transport.abort()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)

    async def cut(self) -> None:
        assert self.server is not None
        self.broken = True
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
async def proxied(pg_server_url: str) -> AsyncIterator[tuple[str, str, Proxy]]:
    """A database of its own: its direct URL, its URL through a proxy, and the proxy."""
    with fresh_database(pg_server_url, "worker_partition") as url:
        parsed = make_url(url)
        socket_dir = parsed.query.get("host")
        proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432, str(socket_dir) if socket_dir else None)
        await proxy.start()
        proxied = parsed.set(host="127.0.0.1", port=proxy.port, query={})
        yield url, proxied.render_as_string(hide_password=False), proxy
        with contextlib.suppress(RuntimeError):
            await proxy.cut()


async def test_a_worker_that_cannot_heartbeat_stops_its_run_before_another_takes_it_over(
    proxied: tuple[str, str, Proxy],
) -> None:
    direct, through_proxy, proxy = proxied
    async with aegra_serve(direct, args=["--no-workers"], leases=LEASES) as api:
        async with aegra_worker(through_proxy, leases=LEASES) as cut_off:
            thread_id = (await api.client.threads.create())["thread_id"]
            config = {"configurable": {"first_attempt_delay": 120}}
            run = await api.client.runs.create(thread_id, "count", input={}, config=config)

            def stalling() -> bool:  # in its node's stall, past the checkpoint reads
                with psycopg.connect(psycopg_conninfo(direct)) as conn:
                    row = conn.execute(
                        "SELECT 1 FROM store WHERE prefix = 'stalls' AND key = %s", (run["run_id"],)
                    ).fetchone()
                return row is not None

            await eventually(lambda: asyncio.to_thread(stalling), within=60, what="the run to stall in its node")
            await proxy.cut()

            async def fenced() -> bool:
                return "could not renew the lease of a run in time" in cut_off.text

            try:
                await eventually(fenced, within=60, what="the cut-off worker to stop its run")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; its log:\n{cut_off.text}") from None
            async with aegra_worker(direct, leases=LEASES) as taking_over:
                await api.client.runs.join(thread_id, run["run_id"])
                ended = await api.client.runs.get(thread_id, run["run_id"])
        with psycopg.connect(psycopg_conninfo(direct)) as conn:
            executions = conn.execute(
                "SELECT (value->>'pid')::int FROM store WHERE prefix = 'executions' AND value->>'run_id' = %s",
                (run["run_id"],),
            ).fetchall()

    assert ended["status"] == "success"
    assert executions == [(taking_over.process.pid,)], "the first attempt was stopped, never completed"
    assert any("run handed back" in line and "lost" in line for line in cut_off.output)
