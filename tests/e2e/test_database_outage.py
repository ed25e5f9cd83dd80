"""A PostgreSQL outage under a real `aegra serve`: while the database is down, every request that needs it answers
503 naming the cause (never 500) and `/ok` stays up; once it is back, the very next requests and runs succeed on
pools whose connections died with the restart, the LISTEN connection comes back, the worker claims runs again, and
a run that failed mid-stream is not left `running`. The database is a cluster of its own (an embedded PostgreSQL
this module stops and starts), never the suite's shared one."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk.errors import InternalServerError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aegra.crons.scheduler import CronScheduler, serve_crons
from aegra.db.database import Database
from aegra.db.embedded import EmbeddedPostgres
from aegra.db.models import Cron as CronRow
from aegra.db.models import Thread as ThreadRow
from aegra.db.models import utcnow
from aegra.db.url import psycopg_conninfo, with_database
from aegra.services.thread_ttl import ThreadTtlSweeper
from aegra.settings import Settings
from tests.e2e.durable_servers import PROCESS_TEST_TIMEOUT, Server, aegra_serve, eventually

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)

# A short connection wait keeps the outage's answers quick: the LangGraph pool waits that long for a connection
# before the store answers 503, and each checkpoint write a run still has to make waits as long before it fails.
# Not shorter: once the database is back, opening a connection on a busy machine can itself take over a second.
# The lease outlives the streamed run's remaining steps plus its failed checkpoint write (the LangGraph pool waits up
# to 30 s for a connection before that write fails), so that run ends `error`, which its stream must show, before
# the fence would stop it: a process that cannot heartbeat stops its runs just before their leases run out (a run
# never executes twice at once), and a stopped run's stream is cut for the client to reconnect elsewhere.
SERVER_ENV = {
    "DB_CONNECT_TIMEOUT_SECONDS": "4",
    "RUN_LEASE_SECONDS": "60",
    "RUN_HEARTBEAT_SECONDS": "0.5",
    "RUN_REAPER_SECONDS": "0.5",
}


@dataclass
class Cluster:
    """The module's own PostgreSQL, which a test may take down."""

    embedded: EmbeddedPostgres
    url: str

    @asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        """Stop PostgreSQL (`pg_ctl stop`: sessions end with AdminShutdown) for the block, then start it again."""
        await asyncio.to_thread(self.embedded.stop)
        try:
            yield
        finally:
            url = await asyncio.to_thread(self.embedded.start)
            assert url == self.url, "the restarted cluster must keep its address"

    async def listeners(self) -> int:
        """Sessions whose last statement was one of the run queue's LISTENs."""
        async with await psycopg.AsyncConnection.connect(psycopg_conninfo(self.url), autocommit=True) as conn:
            cursor = await conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN aegra\\_%'")
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Outside pytest's basetemp, world-readable: see `pg_server_url` in conftest.py.
    folder = Path(tempfile.mkdtemp(prefix="aegra-outage-pg-"))
    folder.chmod(0o755)
    embedded = EmbeddedPostgres(folder / "pgdata")
    url = embedded.start()
    yield Cluster(embedded, url)
    embedded.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
async def server(cluster: Cluster) -> AsyncIterator[Server]:
    async with aegra_serve(cluster.url, **SERVER_ENV) as running:
        yield running


@pytest.fixture
async def http(server: Server, cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the server, once it reports the database healthy (a previous test restarted it)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

        async def healthy() -> bool:
            return (await client.get("/health")).status_code == 200

        await eventually(healthy, what="the database to be healthy")
        yield client


async def _warm_up(server: Server) -> None:
    """Fill both pools with connections (they die with the restart): requests, a run, concurrent store reads."""
    thread = await server.client.threads.create()
    await server.client.runs.wait(thread["thread_id"], "echo", input={"messages": []})
    await server.client.store.put_item(["outage"], "warm", {"v": 1})
    await asyncio.gather(*(server.client.store.search_items(["outage"]) for _ in range(6)))


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["detail"].startswith("Database unavailable: "), response.text


async def test_requests_answer_503_naming_the_cause_while_the_database_is_down(
    server: Server, cluster: Cluster, http: httpx.AsyncClient
) -> None:
    await _warm_up(server)
    async with cluster.down():
        thread = await http.post("/threads", json={})
        assistants = await http.post("/assistants/search", json={})
        put = await http.put("/store/items", json={"namespace": ["outage"], "key": "k", "value": {"v": 2}})
        get = await http.get("/store/items", params={"namespace": "outage", "key": "warm"})
        state = await http.get(f"/threads/{uuid.uuid4()}/state")
        health = await http.get("/health")
        checked = await http.get("/ok", params={"check_db": 1})
        ok = await http.get("/ok")
        info = await http.get("/info")
        metrics = await http.get("/metrics")
        with pytest.raises(InternalServerError) as sdk_error:
            await server.client.threads.create()

    for response in (thread, assistants, put, get, state):
        _assert_unavailable(response)
    assert "connection refused" in thread.json()["detail"]
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert health.json()["detail"].startswith("Database unavailable: ")
    assert checked.status_code == 503
    assert checked.json()["ok"] is False
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    assert info.status_code == 200
    assert metrics.status_code == 200
    assert sdk_error.value.status_code == 503
    assert "unhandled error" not in server.text


async def test_first_requests_and_runs_after_the_database_returns_succeed(
    server: Server, cluster: Cluster, http: httpx.AsyncClient
) -> None:
    await _warm_up(server)
    async with cluster.down():
        pass  # nobody asks while it is down: every pooled connection is stale when it is back

    thread = await server.client.threads.create()
    result = await server.client.runs.wait(
        thread["thread_id"], "echo", input={"messages": [{"role": "user", "content": "hi"}]}
    )
    runs = await server.client.runs.list(thread["thread_id"])
    item = await server.client.store.get_item(["outage"], "warm")
    assistants = await server.client.assistants.search(graph_id="echo")
    health = await http.get("/health")

    assert isinstance(result, dict) and "__error__" not in result, result
    assert [run["status"] for run in runs] == ["success"]
    assert item is not None and item["value"] == {"v": 1}
    assert assistants
    assert health.status_code == 200


async def test_worker_listens_and_claims_runs_again_after_the_database_returns(
    server: Server, cluster: Cluster, http: httpx.AsyncClient
) -> None:
    async def listening() -> bool:
        return await cluster.listeners() >= 1

    await eventually(listening, what="the LISTEN connection")
    async with cluster.down():
        pass

    await eventually(listening, what="the LISTEN connection to come back")
    thread = await server.client.threads.create()
    run = await server.client.runs.create(thread["thread_id"], "echo", input={"messages": []})
    await server.client.runs.join(thread["thread_id"], run["run_id"])
    ended = await server.client.runs.get(thread["thread_id"], run["run_id"])

    assert ended["status"] == "success"


async def test_open_stream_gets_an_error_event_and_its_run_resumes_once_the_database_returns(
    server: Server, cluster: Cluster, http: httpx.AsyncClient
) -> None:
    # A run that needs no database while it sleeps keeps this process heartbeating through the outage.
    other = await server.client.threads.create()
    bystander = await server.client.runs.create(
        other["thread_id"], "sleeper", input={}, config={"configurable": {"seconds": 100}}
    )
    thread = await server.client.threads.create()
    # Slow steps: the run is still going when PostgreSQL has stopped, however slowly `pg_ctl stop` starts.
    stream = server.client.runs.stream(
        thread["thread_id"], "steps", input={}, config={"configurable": {"steps": 6, "delay": 2.0}}
    )
    events: list[Any] = []
    async for part in stream:
        events.append(part)
        if part.event == "values":
            break
    run_id = events[0].data["run_id"]

    async with cluster.down():
        async for part in stream:  # the rest of the stream: it ends with an error, not a broken connection
            events.append(part)

        async def ending_not_recorded() -> bool:
            return "could not record the end of a run" in server.text

        await eventually(ending_not_recorded, what="the run's ending to fail to record")

    async def run_ended() -> bool:
        run = await server.client.runs.get(thread["thread_id"], run_id)
        return run["status"] not in ("pending", "running")

    await eventually(run_ended, within=180, what="the interrupted run to be resumed and finished")
    run = await server.client.runs.get(thread["thread_id"], run_id)
    state = await server.client.threads.get_state(thread["thread_id"])
    await server.client.runs.cancel(other["thread_id"], bystander["run_id"])

    assert events[-1].event == "error"
    assert run["status"] == "success"
    assert len(state["values"]["steps"]) == 6


# -- background loops, in this process, on a database of their own in the same cluster -------------------------------


@dataclass
class CountingSessions:
    """A sessionmaker that counts the sessions its loop opened: each turn of a loop opens one, even a failing one."""

    inner: async_sessionmaker[AsyncSession]
    opened: int = 0

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]:
        self.opened += 1
        return self.inner()


@dataclass
class CronLaunches:
    fired: list[uuid.UUID] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, cron: CronRow, now: datetime) -> None:
        self.fired.append(cron.cron_id)


@pytest.mark.parametrize("pre_ping", [False, True], ids=["poll", "pre-ping"])
async def test_both_pools_lend_live_connections_after_a_restart(cluster: Cluster, pre_ping: bool) -> None:
    url = with_database(cluster.url, "postgres")
    database = Database(url, Settings(database_url=url, db_connect_timeout_seconds=5, db_pool_pre_ping=pre_ping))
    await database.lg_pool.open(wait=True)
    try:
        await _use_both_pools(database, times=4)  # several connections in each pool: all die with the restart
        async with cluster.down():
            pass

        await _use_both_pools(database, times=4)
    finally:
        await database.close()


async def _use_both_pools(database: Database, *, times: int) -> None:
    async def metadata() -> None:
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.05)"))

    async def langgraph() -> None:
        async with database.lg_pool.connection() as conn:
            await conn.execute("SELECT pg_sleep(0.05)")

    await asyncio.gather(*(metadata() for _ in range(times)), *(langgraph() for _ in range(times)))


@pytest.fixture(scope="module")
async def loops_url(cluster: Cluster) -> str:
    async with await psycopg.AsyncConnection.connect(psycopg_conninfo(cluster.url), autocommit=True) as conn:
        await conn.execute("CREATE DATABASE loops")
    return with_database(cluster.url, "loops")


async def test_cron_scheduler_and_thread_sweeper_keep_turning_through_an_outage(
    cluster: Cluster, loops_url: str
) -> None:
    settings = Settings(database_url=loops_url, db_connect_timeout_seconds=1)
    database = Database(loops_url, settings)
    await database.open()
    cron_sessions = CountingSessions(database.sessionmaker)
    sweeper_sessions = CountingSessions(database.sessionmaker)
    database.sessionmaker = sweeper_sessions  # type: ignore[assignment]  # the sweeper's own turns are counted
    launches = CronLaunches()
    sweeper = ThreadTtlSweeper(database, interval=0.05)
    sweeper.start()
    try:
        async with serve_crons(CronScheduler(cron_sessions, launches, poll_seconds=0.05)):  # type: ignore[arg-type]
            async with cluster.down():
                turns = (cron_sessions.opened, sweeper_sessions.opened)

                async def kept_turning() -> bool:
                    return cron_sessions.opened >= turns[0] + 3 and sweeper_sessions.opened >= turns[1] + 3

                await eventually(kept_turning, what="both loops to retry while the database is down")

            thread_id, cron_id = await _expired_thread_and_due_cron(cron_sessions.inner)

            async def swept_and_fired() -> bool:
                async with cron_sessions.inner() as session:
                    thread = await session.scalar(select(ThreadRow).where(ThreadRow.thread_id == thread_id))
                return thread is None and cron_id in launches.fired

            await eventually(swept_and_fired, what="an expired thread swept and a due cron fired after the outage")
    finally:
        await sweeper.stop()
        await database.close()


async def _expired_thread_and_due_cron(sessions: async_sessionmaker[AsyncSession]) -> tuple[uuid.UUID, uuid.UUID]:
    long_ago = utcnow() - timedelta(hours=1)
    thread_id, cron_id = uuid.uuid4(), uuid.uuid4()
    async with sessions() as session:
        session.add(
            ThreadRow(
                thread_id=thread_id,
                status="idle",
                ttl_strategy="delete",
                ttl_minutes=1.0,
                expires_at=long_ago,
                updated_at=long_ago,
            )
        )
        session.add(CronRow(cron_id=cron_id, schedule="* * * * *", next_run_date=long_ago))
        await session.commit()
    return thread_id, cron_id
