"""Process roles on one PostgreSQL: an API-only `aegra serve --no-workers` queues runs that an `aegra worker` (no
API) executes, while streams, joins and cancels from the API process reach them; the worker's health endpoint;
bad starts (an unmigrated database, no DATABASE_URL) refused with a clear message and a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.conftest import fresh_database
from tests.e2e.durable_servers import (
    CONFIG,
    PROCESS_TEST_TIMEOUT,
    REPO_ROOT,
    Server,
    aegra_serve,
    aegra_worker,
    executions_of,
    running,
)

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)


@pytest.fixture(scope="module")
async def roles(database_url: str) -> AsyncIterator[tuple[Server, Server]]:
    """An API-only process (it migrates the module's database) and a worker started after it."""
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(aegra_serve(database_url, args=["--no-workers"]))
        worker = await stack.enter_async_context(aegra_worker(database_url))
        yield api, worker


async def test_runs_created_on_an_api_only_process_execute_once_each_on_the_worker(
    roles: tuple[Server, Server], database_url: str
) -> None:
    api, worker = roles

    runs = await asyncio.gather(
        *(api.client.runs.create(str(uuid.uuid4()), "count", input={}, if_not_exists="create") for _ in range(30))
    )
    await asyncio.gather(*(api.client.runs.join(run["thread_id"], run["run_id"]) for run in runs))
    executions = executions_of(database_url, [run["run_id"] for run in runs])
    statuses = {(await api.client.runs.get(run["thread_id"], run["run_id"]))["status"] for run in runs}

    assert sorted(run_id for run_id, _ in executions) == sorted(run["run_id"] for run in runs)
    assert {pid for _, pid in executions} == {worker.process.pid}, "the API-only process executed none"
    assert statuses == {"success"}


async def test_a_stream_on_the_api_process_gets_every_event_of_a_run_executing_on_the_worker(
    roles: tuple[Server, Server],
) -> None:
    api, _ = roles
    thread_id = (await api.client.threads.create())["thread_id"]

    parts = [
        part
        async for part in api.client.runs.stream(
            thread_id, "steps", input={}, stream_mode="values", config={"configurable": {"steps": 4, "delay": 0.05}}
        )
    ]
    values = [part.data for part in parts if part.event == "values"]

    lengths = [len(value.get("steps") or []) for value in values]
    assert parts[0].event == "metadata"
    assert lengths == sorted(lengths) and set(lengths) >= {1, 2, 3, 4}, "every step, in order"
    assert lengths[-1] == 4
    assert values[-1]["starts"] == [1]


async def test_wait_on_the_api_process_returns_the_output_of_the_run_on_the_worker(
    roles: tuple[Server, Server],
) -> None:
    api, worker = roles

    output = await api.client.runs.wait(None, "count", input={})

    assert output == {"pid": worker.process.pid}


async def test_cancel_on_the_api_process_stops_a_run_executing_on_the_worker(roles: tuple[Server, Server]) -> None:
    api, _ = roles
    thread_id = (await api.client.threads.create())["thread_id"]
    run = await api.client.runs.create(thread_id, "slow", input={})
    await running(api.client, thread_id, run["run_id"])

    await api.client.runs.cancel(thread_id, run["run_id"], wait=True)
    ended = await api.client.runs.get(thread_id, run["run_id"])

    assert ended["status"] == "interrupted"


async def test_the_worker_answers_ok_and_health_and_nothing_else(roles: tuple[Server, Server]) -> None:
    _, worker = roles
    async with httpx.AsyncClient(base_url=worker.url, timeout=30) as http:
        ok = await http.get("/ok")
        health = await http.get("/health")
        missing = await http.get("/threads")
        post = await http.post("/health", json={})

    assert (ok.status_code, ok.json()) == (200, {"ok": True})
    assert (health.status_code, health.json()) == (200, {"status": "healthy", "database": "ok"})
    assert missing.status_code == 404
    assert "only /ok and /health" in missing.json()["detail"]
    assert post.status_code == 405


async def test_the_worker_hands_back_its_runs_and_exits_zero_on_sigterm(
    roles: tuple[Server, Server], database_url: str
) -> None:
    api, _ = roles
    async with aegra_worker(database_url, RUN_SHUTDOWN_GRACE_SECONDS="0") as leaving:
        thread_id = (await api.client.threads.create())["thread_id"]
        run = await api.client.runs.create(thread_id, "slow", input={})
        await running(api.client, thread_id, run["run_id"])
        exit_code = await leaving.stop()

    await api.client.runs.cancel(thread_id, run["run_id"], wait=True)  # whoever holds it now

    assert exit_code == 0, leaving.text
    assert "aegra worker stopping" in leaving.text


async def _worker_exit(env: dict[str, str]) -> tuple[int, str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("AEGRA_CONFIG", "DATABASE_URL")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "aegra", "worker", "--config", str(CONFIG)),
        cwd=REPO_ROOT,
        env=environment | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return await process.wait(), output.decode(errors="replace")


async def test_a_worker_on_an_unmigrated_database_says_so_and_exits_non_zero(pg_server_url: str) -> None:
    with fresh_database(pg_server_url, "worker_unmigrated") as url:
        exit_code, output = await _worker_exit({"DATABASE_URL": url})

    assert exit_code == 1
    assert "not migrated" in output
    assert "aegra migrate upgrade" in output
    assert "Traceback" not in output


async def test_a_worker_without_database_url_is_refused() -> None:
    exit_code, output = await _worker_exit({})

    assert exit_code == 1
    assert "aegra worker needs DATABASE_URL" in output
