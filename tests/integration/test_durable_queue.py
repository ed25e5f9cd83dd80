"""The run queue's durability SQL on a real PostgreSQL: reaping expired leases, fencing a worker that lost its
run, reservations, and sweeping kept events of ended runs."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Connection, event, select, update

from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.db.models import RunEvent as RunEventRow
from aegra.db.models import Thread as ThreadRow
from aegra.db.models import utcnow
from aegra.runs import endings, queue, thread_sync


async def _run(
    database: Database, *, status: str, attempt: int = 1, lease_in: float = -5.0, **values: object
) -> uuid.UUID:
    """A thread with one run in `status`, leased by `worker-a` until `lease_in` seconds from now."""
    thread_id, run_id = uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    async with database.sessionmaker() as session:
        session.add(ThreadRow(thread_id=thread_id, status="busy" if status in queue.INFLIGHT else "idle"))
        await session.flush()
        session.add(
            RunRow(
                run_id=run_id,
                thread_id=thread_id,
                assistant_id=uuid.uuid4(),
                status=status,
                attempt=attempt,
                worker_id="worker-a" if status == "running" else None,
                lease_expires_at=now + timedelta(seconds=lease_in) if status == "running" else None,
                kwargs={},
                metadata_={},
                **values,
            )
        )
        await session.commit()
    return run_id


async def _reap(database: Database, *, max_attempts: int) -> list[RunRow]:
    async with database.sessionmaker() as session:
        return await queue.reap_expired_leases(session, origin="reaper", max_attempts=max_attempts)


async def _row(database: Database, run_id: uuid.UUID) -> tuple[RunRow, ThreadRow]:
    async with database.sessionmaker() as session:
        run = await queue.get_run(session, run_id)
        assert run is not None
        thread = await session.scalar(
            select(ThreadRow).where(ThreadRow.thread_id == run.thread_id).execution_options(populate_existing=True)
        )
        assert thread is not None
        return run, thread


async def test_an_expired_lease_puts_the_run_back_in_the_queue(database: Database) -> None:
    run_id = await _run(database, status="running", attempt=1)

    reaped = await _reap(database, max_attempts=3)
    run, thread = await _row(database, run_id)

    assert run_id in {row.run_id for row in reaped}
    assert (run.status, run.worker_id, run.lease_expires_at, run.attempt) == ("pending", None, None, 1)
    assert thread.status == "busy"


async def test_an_expired_lease_on_the_last_attempt_ends_the_run_error_and_settles_the_thread(
    database: Database,
) -> None:
    run_id = await _run(database, status="running", attempt=3)

    await _reap(database, max_attempts=3)
    run, thread = await _row(database, run_id)

    assert run.status == "error"
    assert run.error is not None and run.error["error"] == "WorkerLostError"
    assert thread.status == "error"
    assert thread.error == run.error


async def test_a_live_lease_is_left_alone(database: Database) -> None:
    run_id = await _run(database, status="running", lease_in=60)

    reaped = await _reap(database, max_attempts=3)
    run, _ = await _row(database, run_id)

    assert run_id not in {row.run_id for row in reaped}
    assert run.status == "running"


async def test_a_worker_that_lost_its_run_cannot_record_its_ending(database: Database) -> None:
    run_id = await _run(database, status="running", lease_in=60)
    async with database.sessionmaker() as session:
        await session.execute(update(RunRow).where(RunRow.run_id == run_id).values(worker_id="worker-b"))
        await session.commit()

    ending = await _success(database, run_id)

    async with database.sessionmaker() as session:
        lost = await endings.finish_run(session, ending, origin="worker-a")
        await session.commit()
    async with database.sessionmaker() as session:
        held = await endings.finish_run(session, ending, origin="worker-b")
        await session.commit()

    assert (lost, held) == (False, True)


async def test_a_reserved_run_waits_for_its_process_during_the_affinity_window(database: Database) -> None:
    async with database.sessionmaker() as session:  # other tests' pending runs would be claimed first
        await session.execute(update(RunRow).where(RunRow.status == "pending").values(status="success"))
        await session.commit()
    run_id = await _run(database, status="pending", attempt=0, reserved_for="worker-a")

    async with database.sessionmaker() as session:
        by_other = await queue.claim_runs(session, "worker-b", limit=10, lease_seconds=30)
    async with database.sessionmaker() as session:
        by_owner = await queue.claim_runs(session, "worker-a", limit=10, lease_seconds=30)

    assert run_id not in {row.run_id for row in by_other}
    assert [(row.run_id, row.attempt) for row in by_owner] == [(run_id, 1)]


async def test_sweep_drops_old_events_of_ended_runs_only(database: Database) -> None:
    ended = await _run(database, status="success")
    running = await _run(database, status="running", lease_in=60)
    recent = await _run(database, status="success")
    old = utcnow() - timedelta(hours=2)
    async with database.sessionmaker() as session:
        for run_id, created_at in ((ended, old), (running, old), (recent, utcnow())):
            session.add_all(
                RunEventRow(run_id=run_id, seq=seq, event="values", data=b"{}", created_at=created_at)
                for seq in range(3)
            )
        await session.commit()

    async with database.sessionmaker() as session:
        swept = await queue.sweep_run_events(session, ttl_seconds=3600)
    async with database.sessionmaker() as session:
        stmt = select(RunEventRow.run_id).where(RunEventRow.run_id.in_([ended, running, recent])).distinct()
        left = set((await session.scalars(stmt)).all())

    assert swept >= 3
    assert ended not in left
    assert running in left
    assert recent in left


async def test_heartbeat_extends_only_the_runs_the_worker_still_executes(database: Database) -> None:
    executing = await _run(database, status="running", lease_in=5.0)
    # Its process still holds it, but could not record its ending (the database was down): it must expire.
    abandoned = await _run(database, status="running", lease_in=5.0)

    async with database.sessionmaker() as session:
        held = await queue.extend_leases(session, "worker-a", {executing}, lease_seconds=600)
    extended, _ = await _row(database, executing)
    left, _ = await _row(database, abandoned)

    assert held == {executing}
    assert extended.lease_expires_at is not None and extended.lease_expires_at > utcnow() + timedelta(seconds=300)
    assert left.lease_expires_at is not None and left.lease_expires_at < utcnow() + timedelta(seconds=300)


async def _success(database: Database, run_id: uuid.UUID) -> endings.RunEnding:
    """The ending that records the run's success."""
    run, _ = await _row(database, run_id)
    return endings.RunEnding(
        run_id=run_id,
        thread_id=run.thread_id,
        status="success",
        output={},
        error=None,
        thread=thread_sync.ending_fields(None, error=None),
    )


async def _end(database: Database, run_id: uuid.UUID) -> None:
    """`worker-a` records the success of its run (the thread locked first, as the executor does)."""
    ending = await _success(database, run_id)
    async with database.sessionmaker() as session:
        await thread_sync.lock_thread_only(session, ending.thread_id)
        assert await endings.finish_run(session, ending, origin="worker-a")
        await session.commit()


async def test_an_ending_announces_its_threads_waiting_run_to_every_process_its_own_included(
    database: Database,
) -> None:
    alone = await _run(database, status="running", lease_in=60)
    followed = await _run(database, status="running", lease_in=60)
    run, _ = await _row(database, followed)
    waiting = RunRow(run_id=uuid.uuid4(), thread_id=run.thread_id, assistant_id=uuid.uuid4(), status="pending")
    async with database.sessionmaker() as session:
        session.add(waiting)
        await session.commit()
    heard: list[tuple[str, str]] = []

    async with await database.listen_connection() as conn:
        for channel in (queue.CHANNEL_DONE, queue.CHANNEL_QUEUED):
            await conn.execute(f"LISTEN {channel}")
        await _end(database, alone)
        await _end(database, followed)
        async for note in conn.notifies(timeout=30):
            heard.append((note.channel, note.payload))
            if note.channel == queue.CHANNEL_QUEUED:
                break

    # Only the ending whose thread has a run waiting wakes the workers, and with no origin: the worker that sent it
    # (which no longer claims after each of its endings) acts on it too.
    assert heard == [
        (queue.CHANNEL_DONE, queue.notice("worker-a", str(alone))),
        (queue.CHANNEL_DONE, queue.notice("worker-a", str(followed))),
        (queue.CHANNEL_QUEUED, queue.notice("")),
    ]


async def test_cancelling_a_pending_run_tells_the_workers_the_next_one_on_its_thread_may_start(
    database: Database,
) -> None:
    cancelled = await _run(database, status="pending", attempt=0)
    heard: list[tuple[str, str]] = []

    async with await database.listen_connection() as conn:
        for channel in (queue.CHANNEL_DONE, queue.CHANNEL_QUEUED):
            await conn.execute(f"LISTEN {channel}")
        async with database.sessionmaker() as session:
            await queue.cancel_runs(session, origin="api-a", action="interrupt", run_ids=[cancelled])
        async for note in conn.notifies(timeout=30):
            heard.append((note.channel, note.payload))
            if note.channel == queue.CHANNEL_QUEUED:
                break

    assert heard == [
        (queue.CHANNEL_DONE, queue.notice("api-a", str(cancelled))),
        (queue.CHANNEL_QUEUED, queue.notice("api-a")),
    ]


async def test_a_reaper_pass_with_nothing_expired_is_one_statement_outside_a_transaction(database: Database) -> None:
    await _run(database, status="running", lease_in=60)  # leased: nothing to reap
    sent: list[str] = []  # first word, isolation, and whether it locks

    def record(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        isolation = conn.get_execution_options().get("isolation_level", "transaction")
        sent.append(f"{statement.split(None, 1)[0].upper()} {isolation}{' FOR UPDATE' * ('FOR UPDATE' in statement)}")

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with database.sessionmaker() as session:
            reaped = await queue.reap_expired_leases(session, origin="reaper", max_attempts=3)
            assert not session.in_transaction()
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)

    assert reaped == []
    assert sent == ["SELECT AUTOCOMMIT"]  # no BEGIN, no COMMIT, no reaping UPDATE
