"""`aegra worker`: a process that claims and executes runs, delivers webhooks, fires crons and sweeps, and serves
no API. Its only HTTP is an optional health endpoint for orchestrators: `GET /ok` (the process is up) and
`GET /health` (the database answers through both pools), each a small JSON answer like the API's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Final

import orjson
import structlog
from litestar.datastructures import State

from aegra.api.system import database_problem
from aegra.db.database import Database
from aegra.process import Lifespan

logger = structlog.get_logger(__name__)

REQUEST_HEAD_MAX_BYTES: Final = 8192
REQUEST_TIMEOUT_SECONDS: Final = 5.0


class HealthEndpoint:
    """Answers `/ok` and `/health` on one socket; every other path is a 404, every other method a 405."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
                status, body = await self.answer(head)
            writer.write(_response(status, body))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # a client that sends no complete request within the limits gets nothing
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def answer(self, head: bytes) -> tuple[int, dict[str, object]]:
        """The status and JSON body for a request head."""
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if path not in ("/ok", "/health"):
            return 404, {"detail": f"Not found: {path} (a worker serves only /ok and /health)"}
        if method not in ("GET", "HEAD"):
            return 405, {"detail": f"Method {method} not allowed"}
        if path == "/ok":
            return 200, {"ok": True}
        problem = await database_problem(self.database)
        if problem is not None:
            return 503, {"status": "unhealthy", "database": "unreachable", "detail": problem}
        return 200, {"status": "healthy", "database": "ok"}


def _response(status: int, body: dict[str, object]) -> bytes:
    reasons = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
    payload = orjson.dumps(body)
    head = (
        f"HTTP/1.1 {status} {reasons[status]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + payload


@contextlib.asynccontextmanager
async def health_endpoint(database: Database, host: str, port: int) -> AsyncIterator[tuple[str, int]]:
    """Serve `/ok` and `/health` on host:port for the block; yields the address bound (port 0 picks one)."""
    endpoint = HealthEndpoint(database)
    server = await asyncio.start_server(endpoint.handle, host, port, limit=REQUEST_HEAD_MAX_BYTES)
    try:
        yield server.sockets[0].getsockname()[:2]
    finally:
        server.close()
        await server.wait_closed()


async def run_worker(
    lifespan: Lifespan,
    state: State,
    stop: asyncio.Event,
    *,
    health: tuple[str, int] | None,
    on_ready: Callable[[str], None],
) -> None:
    """Run the process's machinery (workers, crons, sweepers, webhooks) until `stop` is set, then hand back the
    runs still executing (RUN_SHUTDOWN_GRACE_SECONDS) and return."""
    async with lifespan.running(state), contextlib.AsyncExitStack() as stack:
        where = ""
        if health is not None:
            host, port = await stack.enter_async_context(health_endpoint(state.database, *health))
            where = f"; health on http://{host}:{port}/health"
        on_ready(f"aegra worker ready ({state.run_workers.concurrency} runs at once{where})")
        await stop.wait()
        logger.info("aegra worker stopping")
