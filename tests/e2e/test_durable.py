"""Durable runs against real `aegra serve` processes sharing one PostgreSQL: graceful shutdown, work shared by two
processes, cross-process cancel, follow and thread deletion, concurrent creates, and `Last-Event-ID` reconnects
to another process. Leases are short (RUN_* settings) and the processes are shared, so this takes seconds."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError

from aegra.db.url import psycopg_conninfo
from tests.e2e.durable_servers import (
    PROCESS_TEST_TIMEOUT,
    Server,
    aegra_serve,
    eventually,
    executor_and_other,
    running,
    server_pair,
    slow_run,
    steps_done,
)

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)


@pytest.fixture(scope="module", params=["postgres", "redis"])
async def pair(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Server, Server]]:
    """Two server processes on the module's database (tests that stop a server start their own); the second
    executes one run at a time, so a test can keep it busy. Every test runs with PostgreSQL alone, then with Redis
    relaying notices and events too (skipped where no Redis answers)."""
    async with server_pair(database_url, redis=request.param == "redis") as servers:
        yield servers


# -- graceful shutdown ----------------------------------------------------------------------------------------------


async def test_sigterm_finishes_runs_within_the_grace_and_hands_back_the_rest(
    database_url: str, pair: tuple[Server, Server]
) -> None:
    async with aegra_serve(database_url, RUN_SHUTDOWN_GRACE_SECONDS="1.5") as leaving:
        started: dict[str, dict[str, str]] = {}
        for name, steps in (("short", 3), ("long", 20)):
            thread_id = (await leaving.client.threads.create())["thread_id"]
            # Streamed runs start where their client is; the client leaves, the runs go on (on_disconnect=continue).
            stream = leaving.client.runs.stream(
                thread_id, "steps", input={}, config={"configurable": {"steps": steps, "delay": 0.25}}
            )
            metadata = await anext(stream)
            await stream.aclose()
            started[name] = {"thread_id": thread_id, "run_id": metadata.data["run_id"]}
        await eventually(lambda: steps_done(leaving.client, started["long"]["thread_id"], 1), what="a step")
        exit_code = await leaving.stop(signal.SIGTERM)

    client = pair[0].client
    short = await client.runs.get(started["short"]["thread_id"], started["short"]["run_id"])
    await client.runs.join(started["long"]["thread_id"], started["long"]["run_id"])
    long = await client.runs.get(started["long"]["thread_id"], started["long"]["run_id"])
    state = await client.threads.get_state(started["long"]["thread_id"])
    assert exit_code == 0, leaving.text
    assert short["status"] == "success", "it finished within the grace, before the process exited"
    assert any("run handed back" in line and long["run_id"] in line for line in leaving.output)
    assert long["status"] == "success"
    assert state["values"]["starts"] == [1], "resumed from its checkpoint, not started over"
    assert len(state["values"]["steps"]) == 20
    assert set(state["values"]["steps"]) == {1, 2}


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
        run_ids = [run["run_id"] for run in runs]
        executions = conn.execute(
            "SELECT value->>'run_id', value->>'pid' FROM store"
            " WHERE prefix = 'executions' AND value->>'run_id' = ANY(%s)",
            (run_ids,),
        ).fetchall()
        rows = conn.execute("SELECT status, attempt FROM runs WHERE run_id = ANY(%s)", (run_ids,)).fetchall()

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
    thread_id, run, first, second = await slow_run(pair, database_url)

    await second.client.runs.cancel(thread_id, run["run_id"], wait=True)
    cancelled = await first.client.runs.get(thread_id, run["run_id"])
    state = await first.client.threads.get_state(thread_id)

    assert cancelled["status"] == "interrupted"
    assert len(state["values"].get("ticks") or []) < 50


async def test_deleting_a_thread_on_one_process_stops_its_run_on_the_other(
    pair: tuple[Server, Server], database_url: str
) -> None:
    thread_id, run, first, second = await slow_run(pair, database_url)

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
    await running(pair[0].client, thread_id, run["run_id"])
    first, second = executor_and_other(pair, database_url, run["run_id"])

    followed = [part async for part in second.client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")]
    stored = [part async for part in first.client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")]

    assert (await first.client.runs.get(thread_id, run["run_id"]))["status"] == "success"
    assert followed[0].event == "metadata"
    assert [part.event for part in followed].count("updates") == 6  # `begin`, then five steps
    assert [(part.id, part.data) for part in followed] == [(part.id, part.data) for part in stored]


async def test_a_stream_whose_run_executes_on_another_process_still_gets_every_event(
    pair: tuple[Server, Server],
) -> None:
    busy = pair[1]
    blocker_thread = (await busy.client.threads.create())["thread_id"]
    blocker = busy.client.runs.stream(blocker_thread, "steps", input={}, config={"configurable": {"delay": 30}})
    first_part = await anext(blocker)  # a streamed run starts where its client is: it takes the only slot
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
