"""Exactly once across mixed roles (the slim version of bench/scale_out.py): `aegra serve`, `aegra worker` and
`aegra serve --no-workers` on one PostgreSQL execute a few hundred background runs created through both APIs,
each exactly once (counted as executions of the graph's node, not statuses); then the worker is SIGKILLed in the
middle of a second batch: every run still ends `success`, none is lost, and only runs in flight on the killed
worker execute a second time."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient

from aegra.db.url import psycopg_conninfo
from tests.e2e.durable_servers import (
    PROCESS_TEST_TIMEOUT,
    STEADY_LEASES,
    Server,
    aegra_serve,
    aegra_worker,
    executions_of,
)

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)

FIRST_BATCH = 300
SECOND_BATCH = 150
# The worker a test kills: its runs are reaped soon after; long enough that a loaded machine never fences a run.
VICTIM_LEASES = STEADY_LEASES | {"RUN_LEASE_SECONDS": "10"}


@pytest.fixture(scope="module")
async def mixed(database_url: str) -> AsyncIterator[tuple[Server, Server, Server]]:
    """API + workers (it migrates the module's database), a worker, and an API-only process."""
    async with AsyncExitStack() as stack:
        full = await stack.enter_async_context(aegra_serve(database_url, N_JOBS_PER_WORKER="10"))
        worker = await stack.enter_async_context(
            aegra_worker(database_url, leases=VICTIM_LEASES, N_JOBS_PER_WORKER="10")
        )
        api = await stack.enter_async_context(aegra_serve(database_url, args=["--no-workers"]))
        yield full, worker, api


async def _create(clients: list[LangGraphClient], count: int) -> list[str]:
    gate = asyncio.Semaphore(50)

    async def one(index: int) -> str:
        async with gate:
            run = await clients[index % 2].runs.create(str(uuid.uuid4()), "count", input={}, if_not_exists="create")
            return str(run["run_id"])

    return list(await asyncio.gather(*(one(index) for index in range(count))))


async def _join(client: LangGraphClient, database_url: str, run_ids: list[str]) -> None:
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        threads = conn.execute(
            "SELECT run_id::text, thread_id::text FROM runs WHERE run_id = ANY(%s::uuid[])", (run_ids,)
        )
        pairs = threads.fetchall()
    gate = asyncio.Semaphore(50)

    async def join(run_id: str, thread_id: str) -> None:
        async with gate:
            await client.runs.join(thread_id, run_id)

    await asyncio.gather(*(join(run_id, thread_id) for run_id, thread_id in pairs))


def _executions(database_url: str, run_ids: list[str]) -> tuple[Counter[str], Counter[str], set[int]]:
    """Executions per run, runs per status, and the processes that executed them."""
    executions = executions_of(database_url, run_ids)
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        statuses = conn.execute("SELECT status FROM runs WHERE run_id = ANY(%s::uuid[])", (run_ids,)).fetchall()
    return (
        Counter(run_id for run_id, _ in executions),
        Counter(status for (status,) in statuses),
        {pid for _, pid in executions},
    )


async def test_mixed_roles_execute_every_run_exactly_once(
    mixed: tuple[Server, Server, Server], database_url: str
) -> None:
    full, worker, api = mixed

    run_ids = await _create([full.client, api.client], FIRST_BATCH)
    await _join(api.client, database_url, run_ids)
    per_run, statuses, pids = _executions(database_url, run_ids)

    assert sorted(per_run) == sorted(run_ids), "none lost"
    assert set(per_run.values()) == {1}, "each exactly once"
    assert statuses == Counter({"success": FIRST_BATCH})
    assert pids == {full.process.pid, worker.process.pid}, "both executing processes took part, the API-only none"


async def test_killing_a_worker_mid_batch_loses_no_run_and_repeats_only_its_runs_in_flight(
    mixed: tuple[Server, Server, Server], database_url: str
) -> None:
    full, worker, api = mixed
    run_ids = await _create([full.client, api.client], SECOND_BATCH)

    with psycopg.connect(psycopg_conninfo(database_url), autocommit=True) as conn:
        while True:  # the worker has executed some of the batch: kill it in the middle
            row = conn.execute(
                "SELECT count(*) FROM store WHERE prefix = 'executions' AND (value->>'pid')::int = %s"
                " AND value->>'run_id' = ANY(%s)",
                (worker.process.pid, run_ids),
            ).fetchone()
            if row is not None and row[0] >= 10:
                break
            await asyncio.sleep(0.05)
        worker.process.send_signal(signal.SIGSTOP)  # frozen: it claims nothing between the snapshot and the kill
        in_flight = {
            str(run_id)
            for (run_id,) in conn.execute(
                "SELECT run_id FROM runs WHERE status = 'running' AND split_part(worker_id, ':', 2) = %s",
                (str(worker.process.pid),),
            ).fetchall()
        }
    await worker.stop(signal.SIGKILL)
    await _join(api.client, database_url, run_ids)
    per_run, statuses, _ = _executions(database_url, run_ids)
    twice = {run_id for run_id, count in per_run.items() if count > 1}

    assert statuses == Counter({"success": SECOND_BATCH}), "every run ends success"
    assert sorted(per_run) == sorted(run_ids), "none lost"
    assert twice <= in_flight, "only runs in flight on the killed worker executed again"
    assert max(per_run.values()) <= 2
