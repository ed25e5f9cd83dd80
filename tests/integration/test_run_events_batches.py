"""Kept run events on a real PostgreSQL: the events of several runs go out in one batch, each run's in order, and a
run whose row is gone (deleted with its thread while it ran) does not cost the other runs their events."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.db.models import RunEvent as RunEventRow
from aegra.db.models import Thread as ThreadRow
from aegra.runs import queue
from aegra.runs.events import EventStore, StreamEvent


async def _run(database: Database) -> uuid.UUID:
    """A running run on a thread of its own."""
    thread_id, run_id = uuid.uuid4(), uuid.uuid4()
    async with database.sessionmaker() as session:
        session.add(ThreadRow(thread_id=thread_id, status="busy"))
        await session.flush()
        session.add(RunRow(run_id=run_id, thread_id=thread_id, assistant_id=uuid.uuid4(), status="running", kwargs={}))
        await session.commit()
    return run_id


async def _stored(database: Database, run_id: uuid.UUID) -> list[tuple[int, str, bytes]]:
    async with database.sessionmaker() as session:
        stmt = select(RunEventRow.seq, RunEventRow.event, RunEventRow.data).where(RunEventRow.run_id == run_id)
        rows = (await session.execute(stmt.order_by(RunEventRow.seq))).all()
    return [(seq, event, bytes(data)) for seq, event, data in rows]


def _events(count: int) -> list[StreamEvent]:
    return [StreamEvent(seq, "values", f'{{"n": {seq}}}'.encode()) for seq in range(count)]


async def test_the_events_of_runs_ending_together_are_all_stored_in_order(database: Database) -> None:
    store = EventStore(database.engine, origin="worker-a", channel=queue.CHANNEL_EVENTS)
    runs = [await _run(database) for _ in range(5)]
    logs = [store.writer(run_id) for run_id in runs]
    for log in logs:
        for event in _events(3):
            log.append(event)

    await asyncio.gather(*(log.close() for log in logs))

    for run_id in runs:
        assert await _stored(database, run_id) == [(item.seq, item.event, item.data) for item in _events(3)]


async def test_a_run_deleted_meanwhile_does_not_cost_the_others_their_events(database: Database) -> None:
    store = EventStore(database.engine, origin="worker-a", channel=queue.CHANNEL_EVENTS)
    kept, gone = await _run(database), uuid.uuid4()  # `gone` has no run row: its events violate the foreign key
    kept_log, gone_log = store.writer(kept), store.writer(gone)
    for event in _events(2):
        kept_log.append(event)
        gone_log.append(event)

    await asyncio.gather(kept_log.close(), gone_log.close())

    assert await _stored(database, kept) == [(item.seq, item.event, item.data) for item in _events(2)]
    assert await _stored(database, gone) == []


async def test_closing_a_run_that_kept_no_events_returns_at_once(database: Database) -> None:
    store = EventStore(database.engine, origin="worker-a", channel=queue.CHANNEL_EVENTS)

    await asyncio.wait_for(store.writer(uuid.uuid4()).close(), 1.0)
