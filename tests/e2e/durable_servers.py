"""Real `aegra serve` processes for the durability tests: started on a test database with short leases, read
back through their logs, and stopped with the signal a test chooses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from redis.asyncio import Redis
from redis.exceptions import RedisError

from aegra.db.url import psycopg_conninfo

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.durable.json"
READY_LINE = "Application startup complete"
WORKER_READY_LINE = "aegra worker ready"
# Heartbeats and reaper passes come often, so work moves quickly between processes. A lease outlives any stall of a
# busy machine (a process not scheduled for seconds): a run is only executed twice when its process really died.
STEADY_LEASES = {
    "RUN_LEASE_SECONDS": "30",
    "RUN_HEARTBEAT_SECONDS": "0.3",
    "RUN_REAPER_SECONDS": "0.3",
    "RUN_SHUTDOWN_GRACE_SECONDS": "0",
}
# For a process a test kills: its runs are reaped soon after (the restart takes longer than this anyway).
CRASH_LEASES = STEADY_LEASES | {"RUN_LEASE_SECONDS": "5"}


# Tests that start `aegra serve` processes (each imports the whole stack: seconds on an idle machine, tens of
# seconds on a busy one) get more than the suite's default timeout; module fixtures' starts count against it too.
PROCESS_TEST_TIMEOUT = 600

# Every `aegra serve` started here and not yet ended. A test cut short (pytest-timeout) can skip its servers'
# cleanup; a server left running would then claim the next tests' runs, so `stop_stray_servers` ends it.
RUNNING: set[asyncio.subprocess.Process] = set()


def stop_stray_servers(*, keep: set[asyncio.subprocess.Process]) -> None:
    """Kill the servers started since `keep` was taken that are still running."""
    for process in RUNNING - keep:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        RUNNING.discard(process)


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
async def aegra_serve(
    database_url: str,
    *,
    port: int | None = None,
    leases: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    **env: str,
) -> AsyncIterator[Server]:
    """`aegra serve` on the durability graphs (on `port`, else a free one; `args` added, e.g. `--no-workers`);
    yields once it is ready, killed on the way out if still alive. `leases` defaults to STEADY_LEASES."""
    port = port or _free_port()
    command = ("serve", "--host", "127.0.0.1", "--port", str(port), *args)
    url = f"http://127.0.0.1:{port}"
    async with _aegra(database_url, command, url, READY_LINE, leases=leases, env=env) as server:
        yield server


@asynccontextmanager
async def aegra_worker(
    database_url: str, *, health_port: int | None = None, leases: Mapping[str, str] | None = None, **env: str
) -> AsyncIterator[Server]:
    """`aegra worker` on the durability graphs, its health endpoint on `health_port` (else a free one); its
    `client` points at that endpoint (a worker serves no API)."""
    port = health_port or _free_port()
    command = ("worker", "--health-port", str(port))
    async with _aegra(
        database_url, command, f"http://127.0.0.1:{port}", WORKER_READY_LINE, leases=leases, env=env
    ) as server:
        yield server


@asynccontextmanager
async def _aegra(
    database_url: str,
    command: Sequence[str],
    url: str,
    ready_line: str,
    *,
    leases: Mapping[str, str] | None,
    env: Mapping[str, str],
) -> AsyncIterator[Server]:
    environment = {key: value for key, value in os.environ.items() if key not in ("AEGRA_CONFIG", "PORT")}
    environment |= {"DATABASE_URL": database_url, "LOG_LEVEL": "INFO", **(leases or STEADY_LEASES), **env}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "aegra", *command, "--config", str(CONFIG)),
        cwd=REPO_ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    RUNNING.add(process)
    server = Server(process, url, get_client(url=url, api_key=None))
    assert process.stdout is not None
    while not server.output or ready_line not in server.output[-1]:
        line = await process.stdout.readline()
        assert line, f"aegra {command[0]} exited before it was ready:\n{server.text}"
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
        RUNNING.discard(process)
        await draining


async def redis_url_or_skip() -> str:
    """The Redis of this machine (REDIS_URL, else 127.0.0.1:6379); skips the test when none answers."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    client = Redis.from_url(url)
    try:
        await client.ping()
    except (RedisError, OSError):
        pytest.skip(f"no Redis at {url}")
    finally:
        await client.aclose()
    return url


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 30.0, what: str = "condition") -> None:
    """Poll the API until `check` holds (only where the server offers no event to wait for)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def executions_of(database_url: str, run_ids: list[str]) -> list[tuple[str, int]]:
    """(run id, pid) per execution of the `count` graph's node among `run_ids` (one store item each)."""
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        rows = conn.execute(
            "SELECT value->>'run_id', (value->>'pid')::int FROM store"
            " WHERE prefix = 'executions' AND value->>'run_id' = ANY(%s)",
            (run_ids,),
        ).fetchall()
    return [(str(run_id), int(pid)) for run_id, pid in rows]


async def steps_done(client: LangGraphClient, thread_id: str, at_least: int) -> bool:
    state = await client.threads.get_state(thread_id)
    return len(state["values"].get("steps") or []) >= at_least


def executor_and_other(pair: tuple[Server, Server], database_url: str, run_id: str) -> tuple[Server, Server]:
    """Which of the two processes executes the run (its worker id carries the pid), and the other one."""
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        row = conn.execute("SELECT worker_id FROM runs WHERE run_id = %s", (run_id,)).fetchone()
    assert row is not None and row[0], "the run is not running"
    pid = int(row[0].split(":")[1])
    first, second = pair
    return (first, second) if first.process.pid == pid else (second, first)


async def running(client: LangGraphClient, thread_id: str, run_id: str) -> None:
    """Wait for a background run's first values (it is running, and has checkpointed)."""
    async for part in client.runs.join_stream(thread_id, run_id, stream_mode="values"):
        if part.event == "values":
            return


async def slow_run(pair: tuple[Server, Server], database_url: str) -> tuple[str, dict[str, Any], Server, Server]:
    """A `slow` background run, once it runs: its thread, the run, the process executing it and the other one."""
    thread_id = (await pair[0].client.threads.create())["thread_id"]
    run = await pair[0].client.runs.create(thread_id, "slow", input={})
    await running(pair[0].client, thread_id, run["run_id"])
    return thread_id, dict(run), *executor_and_other(pair, database_url, run["run_id"])


@asynccontextmanager
async def server_pair(database_url: str, *, redis: bool) -> AsyncIterator[tuple[Server, Server]]:
    """Two server processes on one database; the second executes one run at a time, so a test can keep it busy.
    With `redis`, they relay notices and events through Redis too (skipped where no Redis answers)."""
    env = {"REDIS_URL": await redis_url_or_skip()} if redis else {}
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(aegra_serve(database_url, **env))
        second = await stack.enter_async_context(aegra_serve(database_url, N_JOBS_PER_WORKER="1", **env))
        yield first, second
