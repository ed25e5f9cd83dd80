"""How many runs one process takes on, against a real server: with the default capacity it executes hundreds of
runs at once (all of them start before any ends), a burst queued at once executes exactly once each, and a process
that executes all it can with a full queue answers new runs 503 with `Retry-After` (never a stall) until it has
room again, and a stream of a run waiting for a slot already has its `metadata` event."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from aegra.config import AegraConfig
from aegra.settings import Settings
from tests.conftest import fresh_database, running_server

CONCURRENT_RUNS = 200  # four times the old fixed N_JOBS_PER_WORKER=50
TINY_CAPACITY = 2
TINY_QUEUE = 3


def _gates() -> Any:
    """The `gates` module the server's graphs use (importable once the server loaded its config)."""
    return importlib.import_module("gates")


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)  # the default capacity, derived from memory


@pytest.fixture
async def tiny_server(pg_server_url: str, aegra_config: AegraConfig, server_url: str) -> AsyncIterator[str]:
    """A server on a database of its own that executes 2 runs at once and queues 3 more at most (`server_url`
    first: the gated graph's module is importable once a server loaded the config)."""
    with fresh_database(pg_server_url, "tiny capacity") as url:
        tiny = Settings(database_url=url, n_jobs_per_worker=TINY_CAPACITY, run_queue_max=TINY_QUEUE)
        async with running_server(tiny, aegra_config) as base_url:
            yield base_url


async def test_hundreds_of_background_runs_execute_at_once(client: LangGraphClient) -> None:
    name = f"many-{uuid.uuid4().hex}"
    runs = [
        await client.runs.create(None, "gated", input={"gate": name}, on_completion="keep")
        for _ in range(CONCURRENT_RUNS)
    ]

    gate = _gates().gate(name)
    await gate.wait_for(CONCURRENT_RUNS)  # every run started while none could end
    gate.open()
    results = [await client.runs.join(run["thread_id"], run["run_id"]) for run in runs]

    assert gate.arrived == CONCURRENT_RUNS
    assert all(result == {"gate": name, "passed": True} for result in results)


async def test_a_burst_queued_at_once_executes_every_run_exactly_once(client: LangGraphClient) -> None:
    name = f"burst-{uuid.uuid4().hex}"
    gate = _gates().gate(name)
    gate.open()  # runs pass straight through: the burst is claimed in batches while it is still being queued

    runs = await client.runs.create_batch(
        [{"assistant_id": "gated", "input": {"gate": name}, "on_completion": "keep"} for _ in range(300)]
    )
    statuses = [(await client.runs.join(run["thread_id"], run["run_id"]), run["run_id"]) for run in runs]

    assert gate.arrived == 300
    assert all(result == {"gate": name, "passed": True} for result, _ in statuses)
    assert len({run_id for _, run_id in statuses}) == 300


async def test_a_full_process_with_a_full_queue_answers_503_with_retry_after(tiny_server: str) -> None:
    name = f"full-{uuid.uuid4().hex}"
    gate = _gates().gate(name)
    body = {"assistant_id": "gated", "input": {"gate": name}, "on_completion": "keep"}
    sdk = get_client(url=tiny_server, api_key=None)
    async with httpx.AsyncClient(base_url=tiny_server, timeout=30) as http:
        executing = [
            await sdk.runs.create(None, "gated", input={"gate": name}, on_completion="keep")
            for _ in range(TINY_CAPACITY)
        ]
        await gate.wait_for(TINY_CAPACITY)
        queued = [
            await sdk.runs.create(None, "gated", input={"gate": name}, on_completion="keep") for _ in range(TINY_QUEUE)
        ]
        thread = await sdk.threads.create()

        refused = [
            await http.post("/runs", json=body),
            await http.post("/runs/wait", json=body),
            await http.post("/runs/stream", json=body),
            await http.post(f"/threads/{thread['thread_id']}/runs", json=body),
            await http.post(f"/threads/{thread['thread_id']}/runs/wait", json=body),
            await http.post(f"/threads/{thread['thread_id']}/runs/stream", json=body),
            await http.post("/runs/batch", json=[body]),
        ]
        gate.open()
        ended = [await sdk.runs.join(run["thread_id"], run["run_id"]) for run in executing + queued]
        after = await http.post("/runs/wait", json=body)
        refused_thread_runs = await sdk.runs.list(thread["thread_id"])
    await sdk.http.client.aclose()

    assert [response.status_code for response in refused] == [503] * len(refused)
    assert all(int(response.headers["retry-after"]) > 0 for response in refused)
    assert all("RUN_QUEUE_MAX=3" in response.json()["detail"] for response in refused)
    assert ended == [{"gate": name, "passed": True}] * (TINY_CAPACITY + TINY_QUEUE)
    assert (after.status_code, after.json()) == (200, {"gate": name, "passed": True})
    assert refused_thread_runs == []  # a refused run leaves nothing behind


async def test_a_stream_queued_behind_busy_slots_gets_its_metadata_before_its_run_starts(tiny_server: str) -> None:
    name = f"queued-{uuid.uuid4().hex}"
    gate = _gates().gate(name)
    sdk = get_client(url=tiny_server, api_key=None)
    busy = [
        await sdk.runs.create(None, "gated", input={"gate": name}, on_completion="keep") for _ in range(TINY_CAPACITY)
    ]
    await gate.wait_for(TINY_CAPACITY)  # every slot executes a run that cannot end yet
    thread_id = (await sdk.threads.create())["thread_id"]
    created: list[Any] = []
    parts = sdk.runs.stream(
        thread_id,
        "gated",
        input={"gate": name},
        stream_mode="values",
        stream_resumable=True,
        on_run_created=created.append,
    )

    first = await asyncio.wait_for(anext(parts), timeout=30)  # never, if it came only once the run started
    run_id = created[0]["run_id"]
    status_at_first_event = (await sdk.runs.get(thread_id, run_id))["status"]
    arrived_at_first_event = gate.arrived
    gate.open()
    rest = [part async for part in parts]
    replayed = [part async for part in sdk.runs.join_stream(thread_id, run_id, last_event_id="-1")]
    after_metadata = [part async for part in sdk.runs.join_stream(thread_id, run_id, last_event_id=first.id)]
    for run in busy:
        await sdk.runs.join(run["thread_id"], run["run_id"])
    await sdk.http.client.aclose()

    assert (first.event, first.data, first.id) == ("metadata", {"run_id": run_id, "attempt": 1}, "0")
    assert (status_at_first_event, arrived_at_first_event) == ("pending", TINY_CAPACITY)
    streamed = [first, *rest]
    assert [part.event for part in streamed] == ["metadata", "values", "values"]  # once, though the run started later
    assert [part.id for part in streamed] == ["0", "1", "2"]
    assert [(p.event, p.data, p.id) for p in replayed] == [(p.event, p.data, p.id) for p in streamed]
    assert [(p.event, p.data, p.id) for p in after_metadata] == [(p.event, p.data, p.id) for p in rest]
