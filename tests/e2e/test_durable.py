"""Durable runs against real `aegra serve` processes sharing one PostgreSQL: crash recovery (SIGKILL), graceful
shutdown, work shared by two processes, cross-process cancel, follow and thread deletion, concurrent creates,
and `Last-Event-ID` reconnects to another process. Leases are short here (RUN_* settings) so this takes seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError

from aegra.db.url import psycopg_conninfo

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
async def aegra_serve(database_url: str, **env: str) -> AsyncIterator[Server]:
    """`aegra serve` on the durability graphs; yields once it is ready, killed on the way out if still alive."""
    port = _free_port()
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


async def _steps_done(client: LangGraphClient, thread_id: str, at_least: int) -> bool:
    state = await client.threads.get_state(thread_id)
    return len(state["values"].get("steps") or []) >= at_least


def _executor_and_other(pair: tuple[Server, Server], database_url: str, run_id: str) -> tuple[Server, Server]:
    """Which of the two processes executes the run (its worker id carries the pid), and the other one."""
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        row = conn.execute("SELECT worker_id FROM runs WHERE run_id = %s", (run_id,)).fetchone()
    assert row is not None and row[0], "the run is not running"
    pid = int(row[0].split(":")[1])
    first, second = pair
    return (first, second) if first.process.pid == pid else (second, first)


async def _running(client: LangGraphClient, thread_id: str, run_id: str) -> None:
    """Wait for a background run's first values (it is running, and has checkpointed)."""
    async for part in client.runs.join_stream(thread_id, run_id, stream_mode="values"):
        if part.event == "values":
            return


@pytest.fixture(scope="module")
async def pair(database_url: str) -> AsyncIterator[tuple[Server, Server]]:
    """Two server processes on the module's database (tests that kill servers start their own)."""
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(aegra_serve(database_url))
        second = await stack.enter_async_context(aegra_serve(database_url))
        yield first, second


# -- crash recovery and shutdown ------------------------------------------------------------------------------------


async def test_sigkill_mid_run_then_restart_resumes_the_run_from_its_last_checkpoint(database_url: str) -> None:
    async with aegra_serve(database_url) as first:
        thread_id = (await first.client.threads.create())["thread_id"]
        run = await first.client.runs.create(
            thread_id, "steps", input={}, config={"configurable": {"steps": 8, "delay": 0.25}}
        )
        await eventually(lambda: _steps_done(first.client, thread_id, 2), what="two steps")
        await first.stop(signal.SIGKILL)

    async with aegra_serve(database_url) as restarted:
        await restarted.client.runs.join(thread_id, run["run_id"])
        finished = await restarted.client.runs.get(thread_id, run["run_id"])
        state = await restarted.client.threads.get_state(thread_id)
        thread = await restarted.client.threads.get(thread_id)
        parts = restarted.client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")
        events = [part async for part in parts]

    attempts = [part.data["attempt"] for part in events if part.event == "metadata"]
    assert finished["status"] == "success"
    assert thread["status"] == "idle"
    assert state["values"]["starts"] == [1], "the second attempt resumed instead of starting over from the input"
    assert len(state["values"]["steps"]) == 8
    assert set(state["values"]["steps"]) == {1, 2}
    assert attempts == [1, 2]
    assert [int(part.id) for part in events] == sorted(int(part.id) for part in events)


async def test_a_run_whose_process_dies_on_its_last_attempt_ends_error_and_frees_its_thread(
    database_url: str,
) -> None:
    async with aegra_serve(database_url, RUN_MAX_ATTEMPTS="1") as first:
        thread_id = (await first.client.threads.create())["thread_id"]
        run = await first.client.runs.create(thread_id, "steps", input={}, config={"configurable": {"delay": 0.5}})
        await eventually(lambda: _steps_done(first.client, thread_id, 1), what="a step")
        await first.stop(signal.SIGKILL)

    async with aegra_serve(database_url, RUN_MAX_ATTEMPTS="1") as restarted:
        output = await restarted.client.runs.join(thread_id, run["run_id"])
        finished = await restarted.client.runs.get(thread_id, run["run_id"])
        thread = await restarted.client.threads.get(thread_id)
        after = await restarted.client.runs.wait(thread_id, "echo", input={"messages": []})

    assert finished["status"] == "error"
    assert output["__error__"]["error"] == "WorkerLostError"
    assert thread["status"] == "error", "not left busy"
    assert thread["error"]["error"] == "WorkerLostError"
    assert after["messages"][-1]["content"] == "echo: "


async def test_sigterm_hands_a_running_run_back_and_another_process_resumes_it(database_url: str) -> None:
    async with aegra_serve(database_url) as first:
        thread_id = (await first.client.threads.create())["thread_id"]
        run = await first.client.runs.create(
            thread_id, "steps", input={}, config={"configurable": {"steps": 6, "delay": 0.25}}
        )
        await eventually(lambda: _steps_done(first.client, thread_id, 1), what="a step")
        exit_code = await first.stop(signal.SIGTERM)

    async with aegra_serve(database_url) as other:
        await other.client.runs.join(thread_id, run["run_id"])
        finished = await other.client.runs.get(thread_id, run["run_id"])
        state = await other.client.threads.get_state(thread_id)

    assert exit_code == 0, first.text
    assert "run handed back" in first.text
    assert finished["status"] == "success"
    assert state["values"]["starts"] == [1]
    assert len(state["values"]["steps"]) == 6
    assert set(state["values"]["steps"]) == {1, 2}


async def test_sigterm_lets_a_run_finish_within_the_shutdown_grace(database_url: str) -> None:
    async with aegra_serve(database_url, RUN_SHUTDOWN_GRACE_SECONDS="30") as first:
        thread_id = (await first.client.threads.create())["thread_id"]
        run = await first.client.runs.create(
            thread_id, "steps", input={}, config={"configurable": {"steps": 4, "delay": 0.25}}
        )
        await eventually(lambda: _steps_done(first.client, thread_id, 1), what="a step")
        exit_code = await first.stop(signal.SIGTERM)

    async with aegra_serve(database_url) as later:
        finished = await later.client.runs.get(thread_id, run["run_id"])

    assert exit_code == 0, first.text
    assert finished["status"] == "success"
    assert "run handed back" not in first.text


# -- two processes sharing work -------------------------------------------------------------------------------------


async def test_two_processes_execute_200_runs_each_exactly_once(pair: tuple[Server, Server], database_url: str) -> None:
    first, second = pair
    clients = [first.client, second.client]
    threads = [str(uuid.uuid4()) for _ in range(200)]

    runs = await asyncio.gather(
        *(
            clients[index % 2].runs.create(thread_id, "count", input={}, if_not_exists="create")
            for index, thread_id in enumerate(threads)
        )
    )
    await asyncio.gather(
        *(clients[index % 2].runs.join(run["thread_id"], run["run_id"]) for index, run in enumerate(runs))
    )
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        executions = conn.execute(
            "SELECT value->>'run_id', value->>'pid' FROM store WHERE prefix = 'executions'"
        ).fetchall()
        rows = conn.execute(
            "SELECT status, attempt FROM runs WHERE run_id = ANY(%s)", ([run["run_id"] for run in runs],)
        ).fetchall()

    per_run: dict[str, int] = {}
    for run_id, _ in executions:
        per_run[run_id] = per_run.get(run_id, 0) + 1
    assert sorted(per_run) == sorted(run["run_id"] for run in runs)
    assert set(per_run.values()) == {1}
    assert rows and {row for row in rows} == {("success", 1)}
    assert len({pid for _, pid in executions}) == 2, "both processes took part"


async def test_cancel_on_one_process_stops_a_run_executing_on_the_other(
    pair: tuple[Server, Server], database_url: str
) -> None:
    thread_id = (await pair[0].client.threads.create())["thread_id"]
    run = await pair[0].client.runs.create(thread_id, "slow", input={})
    await _running(pair[0].client, thread_id, run["run_id"])
    first, second = _executor_and_other(pair, database_url, run["run_id"])

    await second.client.runs.cancel(thread_id, run["run_id"], wait=True)
    cancelled = await first.client.runs.get(thread_id, run["run_id"])
    state = await first.client.threads.get_state(thread_id)

    assert cancelled["status"] == "interrupted"
    assert len(state["values"].get("ticks") or []) < 50


async def test_deleting_a_thread_on_one_process_stops_its_run_on_the_other(
    pair: tuple[Server, Server], database_url: str
) -> None:
    thread_id = (await pair[0].client.threads.create())["thread_id"]
    run = await pair[0].client.runs.create(thread_id, "slow", input={})
    await _running(pair[0].client, thread_id, run["run_id"])
    first, second = _executor_and_other(pair, database_url, run["run_id"])

    await second.client.threads.delete(thread_id)
    ended = f"run_id={run['run_id']}"

    async def stopped() -> bool:
        return any("run finished" in line and ended in line and "interrupted" in line for line in first.output)

    await eventually(stopped, what="the run to stop on the first process")
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        left = conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s", (thread_id,)).fetchone()
    assert left == (0,)


async def test_a_client_follows_the_live_events_of_a_run_executing_on_another_process(
    pair: tuple[Server, Server], database_url: str
) -> None:
    thread_id = (await pair[0].client.threads.create())["thread_id"]
    run = await pair[0].client.runs.create(
        thread_id,
        "steps",
        input={},
        stream_mode=["values", "updates"],
        config={"configurable": {"steps": 5, "delay": 0.2}},
    )
    await _running(pair[0].client, thread_id, run["run_id"])
    first, second = _executor_and_other(pair, database_url, run["run_id"])

    followed = [part async for part in second.client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")]
    stored = [part async for part in first.client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")]

    assert (await first.client.runs.get(thread_id, run["run_id"]))["status"] == "success"
    assert followed[0].event == "metadata"
    assert [part.event for part in followed].count("updates") == 6  # `begin`, then five steps
    assert [(part.id, part.data) for part in followed] == [(part.id, part.data) for part in stored]


async def test_a_stream_whose_run_executes_on_another_process_still_gets_every_event(
    database_url: str, pair: tuple[Server, Server]
) -> None:
    async with aegra_serve(database_url, N_JOBS_PER_WORKER="1") as busy:
        blocker_thread = (await busy.client.threads.create())["thread_id"]
        blocker = busy.client.runs.stream(
            blocker_thread, "steps", input={}, config={"configurable": {"steps": 1, "delay": 30}}
        )
        first_part = await anext(blocker)  # a streamed run starts where its client is: it occupies the only slot
        thread_id = (await busy.client.threads.create())["thread_id"]
        parts = [
            part
            async for part in busy.client.runs.stream(
                thread_id, "steps", input={}, stream_mode="updates", config={"configurable": {"steps": 3}}
            )
        ]
        await busy.client.runs.cancel(blocker_thread, first_part.data["run_id"])
        await blocker.aclose()
        run_id = parts[0].data["run_id"]
        finished = await busy.client.runs.get(thread_id, run_id)

    assert [part.event for part in parts] == ["metadata", "updates", "updates", "updates", "updates"]
    assert finished["status"] == "success"
    assert not any("run finished" in line and run_id in line for line in busy.output), "it ran on another process"


# -- concurrency and reconnection -----------------------------------------------------------------------------------


async def test_concurrent_reject_creates_on_two_processes_accept_exactly_one(pair: tuple[Server, Server]) -> None:
    first, second = pair
    outcomes: list[list[str]] = []
    for _ in range(5):
        thread_id = (await first.client.threads.create())["thread_id"]

        async def create(client: LangGraphClient, thread_id: str = thread_id) -> str:
            try:
                await client.runs.create(thread_id, "slow", input={}, multitask_strategy="reject")
            except ConflictError:
                return "409"
            return "created"

        outcomes.append(sorted(await asyncio.gather(create(first.client), create(second.client))))
        await first.client.runs.cancel_many(status="all")

    assert outcomes == [["409", "created"]] * 5


async def test_concurrent_interrupt_creates_leave_one_run_to_finish(pair: tuple[Server, Server]) -> None:
    first, second = pair
    thread_id = (await first.client.threads.create())["thread_id"]
    body: dict[str, Any] = {"input": {}, "multitask_strategy": "interrupt", "config": {"configurable": {"steps": 2}}}

    created = await asyncio.gather(
        first.client.runs.create(thread_id, "steps", **body), second.client.runs.create(thread_id, "steps", **body)
    )
    for run in created:
        await first.client.runs.join(thread_id, run["run_id"])
    statuses = sorted([(await first.client.runs.get(thread_id, run["run_id"]))["status"] for run in created])
    thread = await first.client.threads.get(thread_id)

    assert statuses == ["interrupted", "success"]
    assert thread["status"] == "idle"


async def test_reconnecting_to_another_process_with_last_event_id_loses_and_duplicates_nothing(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    thread_id = (await first.client.threads.create())["thread_id"]
    body = {
        "assistant_id": "steps",
        "input": {},
        "stream_mode": ["updates", "values"],
        "stream_resumable": True,
        "config": {"configurable": {"steps": 6, "delay": 0.1}},
    }
    seen: list[tuple[str, str]] = []
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=30) as http,
        http.stream("POST", f"/threads/{thread_id}/runs/stream", json=body) as response,
    ):
        location = response.headers["location"]
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("id: "):
                seen.append((line.removeprefix("id: "), event))
                if len(seen) == 4:
                    break  # the client drops here, mid-run

    rest = [part async for part in second.client.http.stream(location, "GET", headers={"Last-Event-ID": seen[-1][0]})]
    run_id = location.split("/")[-2]
    everything = [part async for part in first.client.runs.join_stream(thread_id, run_id, last_event_id="-1")]

    received = [*seen, *[(part.id, part.event) for part in rest]]
    assert received == [(part.id, part.event) for part in everything]
    assert len({event_id for event_id, _ in received}) == len(received)
