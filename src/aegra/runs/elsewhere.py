"""Runs executing in another process (or ended before they started) that clients of this one follow: their outcome
read back from their row, their last events and outcome handed to the local followers, and a stateless run's
throwaway thread deleted here once they have it."""

from __future__ import annotations

import uuid

import structlog

from aegra import serde
from aegra.db.availability import DATABASE_ERRORS
from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.runs import queue, thread_sync
from aegra.runs.broker import RunBroker, RunOutcome
from aegra.schemas.status import FAILED, INFLIGHT

logger = structlog.get_logger(__name__)


def outcome_of(row: RunRow | None) -> RunOutcome:
    """The outcome of a run that ended (possibly in another process), read back from its row."""
    if row is None:
        return RunOutcome("rollback", b"{}")
    if row.status in FAILED:
        return RunOutcome(row.status, serde.dumps({"__error__": row.error}))
    return RunOutcome(row.status, serde.dumps(row.output or {}))


async def settle_followers(database: Database, broker: RunBroker, run_id: uuid.UUID) -> None:
    """A run ended outside this process (or before it started): give its local followers its last events and its
    outcome."""
    if not broker.is_followed_elsewhere(run_id):
        return
    async with database.sessionmaker() as session:
        row = await queue.get_run(session, run_id)
    if row is not None and row.status in INFLIGHT:
        return
    await broker.catch_up(run_id)
    if broker.is_followed_elsewhere(run_id):
        broker.finish(run_id, outcome_of(row))


async def settle_and_delete(database: Database, broker: RunBroker, run_id: uuid.UUID, thread_id: uuid.UUID) -> None:
    """A stateless run followed here ended elsewhere: settle its followers, then delete its throwaway thread."""
    try:
        await settle_followers(database, broker, run_id)
    finally:
        try:
            async with database.sessionmaker() as session:
                await thread_sync.delete_thread(session, thread_id)
                await session.commit()
        except DATABASE_ERRORS as exc:
            logger.warning("could not delete a stateless run's thread", thread_id=str(thread_id), error=str(exc))
