"""Real `aegra serve` processes for the durability tests: started on a test database with short leases, read
back through their logs, and stopped with the signal a test chooses."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.durable.json"
READY_LINE = "Application startup complete"
FAST_LEASES = {
    "RUN_LEASE_SECONDS": "1.5",
    "RUN_HEARTBEAT_SECONDS": "0.3",
    "RUN_REAPER_SECONDS": "0.3",
    "RUN_SHUTDOWN_GRACE_SECONDS": "0",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One `aegra serve` process and an SDK client pointed at it."""

    process: asyncio.subprocess.Process
    url: str
    client: LangGraphClient
    output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.output)

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await self.process.wait()


@asynccontextmanager
async def aegra_serve(database_url: str, *, port: int | None = None, **env: str) -> AsyncIterator[Server]:
    """`aegra serve` on the durability graphs (on `port`, else a free one); yields once it is ready, killed on the
    way out if still alive."""
    port = port or _free_port()
    environment = {key: value for key, value in os.environ.items() if key not in ("AEGRA_CONFIG", "PORT")}
    environment |= {"DATABASE_URL": database_url, "LOG_LEVEL": "INFO", **FAST_LEASES, **env}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "aegra", "serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(CONFIG)),
        cwd=REPO_ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    server = Server(process, url, get_client(url=url, api_key=None))
    assert process.stdout is not None
    while not server.output or READY_LINE not in server.output[-1]:
        line = await process.stdout.readline()
        assert line, f"aegra serve exited before it was ready:\n{server.text}"
        server.output.append(line.decode(errors="replace"))

    async def drain() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            server.output.append(raw.decode(errors="replace"))

    draining = asyncio.create_task(drain())
    try:
        yield server
    finally:
        await server.client.http.client.aclose()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await draining


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 30.0, what: str = "condition") -> None:
    """Poll the API until `check` holds (only where the server offers no event to wait for)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def steps_done(client: LangGraphClient, thread_id: str, at_least: int) -> bool:
    state = await client.threads.get_state(thread_id)
    return len(state["values"].get("steps") or []) >= at_least
