"""The cron scheduler on a real database: due crons fire exactly once per tick, even with two schedulers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, event, select
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.config import AegraConfig
from aegra.crons.scheduler import CronScheduler
from aegra.crons.service import CronService
from aegra.db.database import Database
from aegra.db.models import Cron as CronRow
from aegra.graphs.registry import GraphRegistry
from aegra.schemas.crons import CronCreate, CronUpdate
from aegra.services.assistants import AssistantService


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Launches:
    """Records firings; the scheduler calls it inside its transaction."""

    def __init__(self) -> None:
        self.fired: list[tuple[uuid.UUID, datetime]] = []

    async def __call__(self, session: AsyncSession, cron: CronRow, now: datetime) -> None:
        await asyncio.sleep(0)  # let a competing scheduler interleave
        self.fired.append((cron.cron_id, now))


@pytest.fixture(scope="module")
async def registry(database: Database, aegra_config: AegraConfig) -> GraphRegistry:
    graphs = GraphRegistry.from_config(aegra_config)
    async with database.sessionmaker() as session:
        await AssistantService(session, graphs).ensure_system_assistants()
    return graphs


async def _create_cron(database: Database, registry: GraphRegistry, schedule: str, **fields: object) -> uuid.UUID:
    async with database.sessionmaker() as session:
        cron = await CronService(session, registry).create(CronCreate(assistant_id="echo", schedule=schedule, **fields))
    return cron.cron_id


async def _set_next_run(database: Database, cron_id: uuid.UUID, when: datetime) -> None:
    async with database.sessionmaker() as session, session.begin():
        row = await session.get(CronRow, cron_id)
        assert row is not None
        row.next_run_date = when


async def test_two_schedulers_fire_a_due_cron_exactly_once(database: Database, registry: GraphRegistry) -> None:
    cron_id = await _create_cron(database, registry, "* * * * *")
    tick = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)
    await _set_next_run(database, cron_id, tick - timedelta(seconds=30))
    launches = Launches()
    clock = FakeClock(tick)
    first = CronScheduler(database.sessionmaker, launches, clock=clock)
    second = CronScheduler(database.sessionmaker, launches, clock=clock)

    await asyncio.gather(first.fire_due(), second.fire_due(), first.fire_due(), second.fire_due())

    assert [fired for fired in launches.fired if fired[0] == cron_id] == [(cron_id, tick)]
    async with database.sessionmaker() as session:
        row = await session.get(CronRow, cron_id)
    assert row is not None and row.next_run_date == datetime(2030, 1, 1, 12, 1, tzinfo=UTC)


async def test_cron_fires_once_per_tick_as_the_clock_advances(database: Database, registry: GraphRegistry) -> None:
    cron_id = await _create_cron(database, registry, "* * * * *")
    start = datetime(2031, 3, 1, 8, 0, tzinfo=UTC)
    await _set_next_run(database, cron_id, start)
    launches = Launches()
    clock = FakeClock(start)
    scheduler = CronScheduler(database.sessionmaker, launches, clock=clock)

    for minute in range(3):
        clock.now = start + timedelta(minutes=minute, seconds=1)
        await scheduler.fire_due()
        await scheduler.fire_due()

    assert [when for fired_id, when in launches.fired if fired_id == cron_id] == [
        start + timedelta(minutes=minute, seconds=1) for minute in range(3)
    ]


async def test_missed_firings_after_downtime_catch_up_once(database: Database, registry: GraphRegistry) -> None:
    cron_id = await _create_cron(database, registry, "* * * * *")
    await _set_next_run(database, cron_id, datetime(2032, 1, 1, 0, 0, tzinfo=UTC))
    launches = Launches()
    scheduler = CronScheduler(
        database.sessionmaker, launches, clock=FakeClock(datetime(2032, 1, 1, 5, 0, 1, tzinfo=UTC))
    )

    await scheduler.fire_due()
    await scheduler.fire_due()

    assert len([fired for fired in launches.fired if fired[0] == cron_id]) == 1


async def test_end_time_and_disable_stop_firing(database: Database, registry: GraphRegistry) -> None:
    ended = await _create_cron(database, registry, "* * * * *", end_time=datetime(2033, 1, 1, 0, 0, 30, tzinfo=UTC))
    disabled = await _create_cron(database, registry, "* * * * *")
    await _set_next_run(database, ended, datetime(2033, 1, 1, 0, 1, tzinfo=UTC))
    await _set_next_run(database, disabled, datetime(2033, 1, 1, 0, 1, tzinfo=UTC))
    async with database.sessionmaker() as session:
        await CronService(session, registry).update(disabled, CronUpdate(enabled=False))
    await _set_next_run(database, disabled, datetime(2033, 1, 1, 0, 1, tzinfo=UTC))
    launches = Launches()
    scheduler = CronScheduler(database.sessionmaker, launches, clock=FakeClock(datetime(2033, 1, 1, 0, 2, tzinfo=UTC)))

    await scheduler.fire_due()

    fired_ids = {fired_id for fired_id, _ in launches.fired}
    assert ended not in fired_ids
    assert disabled not in fired_ids
    async with database.sessionmaker() as session:
        row = await session.scalar(select(CronRow).where(CronRow.cron_id == ended))
    assert row is not None and row.next_run_date is None


async def test_deleted_cron_never_fires(database: Database, registry: GraphRegistry) -> None:
    cron_id = await _create_cron(database, registry, "* * * * *")
    await _set_next_run(database, cron_id, datetime(2034, 1, 1, tzinfo=UTC))
    async with database.sessionmaker() as session:
        await CronService(session, registry).delete(cron_id)
    launches = Launches()

    await CronScheduler(database.sessionmaker, launches, clock=FakeClock(datetime(2034, 1, 2, tzinfo=UTC))).fire_due()

    assert cron_id not in {fired_id for fired_id, _ in launches.fired}


async def test_an_idle_tick_is_one_statement_outside_a_transaction(database: Database, registry: GraphRegistry) -> None:
    await _create_cron(database, registry, "* * * * *")  # due in a minute or less, not at the clock's time
    launches = Launches()
    scheduler = CronScheduler(database.sessionmaker, launches, clock=FakeClock(datetime(2000, 1, 1, tzinfo=UTC)))
    sent: list[str] = []  # first word, isolation, and whether it locks

    def record(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        isolation = conn.get_execution_options().get("isolation_level", "transaction")
        sent.append(f"{statement.split(None, 1)[0].upper()} {isolation}{' FOR UPDATE' * ('FOR UPDATE' in statement)}")

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        fired = await scheduler.fire_due()
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)

    assert fired == 0
    assert launches.fired == []
    assert sent == ["SELECT AUTOCOMMIT"]  # no BEGIN, no locking read, no ROLLBACK
