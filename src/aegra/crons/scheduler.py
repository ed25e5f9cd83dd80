"""Fires due crons. Every `aegra serve` process runs one; row locks with SKIP LOCKED make each firing happen
exactly once across processes. After downtime a cron fires once (catch-up), then resumes its schedule."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aegra.crons.schedule import next_fire_time
from aegra.db.availability import DATABASE_ERRORS
from aegra.db.models import Cron as CronRow
from aegra.db.models import utcnow
from aegra.db.repositories.base import autocommit
from aegra.db.repositories.crons import CronRepository
from aegra.errors import ApiError

logger = structlog.get_logger(__name__)

# Creates the run of one firing inside the scheduler's transaction (so the run and the new
# next_run_date commit together, or neither does). It may commit the session itself.
RunLauncher = Callable[[AsyncSession, CronRow, datetime], Awaitable[None]]
Clock = Callable[[], datetime]


@dataclass
class CronScheduler:
    """Finds due crons, launches their runs and moves their next firing forward."""

    sessionmaker: async_sessionmaker[AsyncSession]
    launch: RunLauncher
    clock: Clock = field(default=utcnow, kw_only=True)
    poll_seconds: float = field(default=5.0, kw_only=True)
    batch_size: int = field(default=50, kw_only=True)

    async def fire_due(self) -> int:
        """Fire every cron due now (once each); return how many runs were launched."""
        now = self.clock()
        if not await self._any_due(now):
            return 0
        fired = 0
        for _ in range(self.batch_size):
            outcome = await self._fire_next(now)
            if outcome is None:
                break
            fired += outcome
        if fired:
            logger.info("crons fired", count=fired)
        return fired

    async def _any_due(self, now: datetime) -> bool:
        """One statement outside a transaction: an idle tick (the common one) costs no BEGIN, locking read and
        ROLLBACK in every process."""
        async with self.sessionmaker() as session, autocommit(session):
            return await CronRepository(session).any_due(now)

    async def _fire_next(self, now: datetime) -> int | None:
        """Lock one due cron, move its next firing forward and launch its run in the same transaction.

        Returns None when nothing is due, else how many runs were launched (0 or 1).
        """
        async with self.sessionmaker() as session:
            cron = await CronRepository(session).claim_next_due(now)
            if cron is None:
                return None
            cron_id, previous = cron.cron_id, cron.next_run_date
            upcoming = next_fire_time(cron.schedule, now, cron.timezone)
            ended = cron.end_time is not None and cron.end_time <= now
            cron.next_run_date = (
                None if ended or (cron.end_time is not None and upcoming >= cron.end_time) else upcoming
            )
            if ended:
                await session.commit()
                return 0
            try:
                await self.launch(session, cron, now)
            except ApiError as exc:
                await session.rollback()
                logger.warning("cron run not created", cron_id=str(cron_id), error=exc.detail)
                await self._advance(cron_id, previous, upcoming)
                return 0
            await session.commit()
        return 1

    async def _advance(self, cron_id: uuid.UUID, previous: datetime | None, upcoming: datetime) -> None:
        """Move a cron past a firing whose run could not be created, so it does not refire at once."""
        async with self.sessionmaker() as session, session.begin():
            await CronRepository(session).advance(cron_id, previous, upcoming)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; a failing poll is logged and retried on the next tick (a database outage
        included: nothing fired while it lasts, and each due cron fires once when it is back)."""
        while not stop.is_set():
            try:
                await self.fire_due()
            except DATABASE_ERRORS as exc:
                logger.warning("cron poll failed; retrying on the next tick", error=str(exc))
            except Exception:  # a bad cron must not kill the scheduler for every other cron
                logger.exception("cron poll failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                continue


@contextlib.asynccontextmanager
async def serve_crons(scheduler: CronScheduler) -> AsyncIterator[None]:
    """Run `scheduler` in the background for the lifetime of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop), name="aegra-cron-scheduler")
    try:
        yield
    finally:
        stop.set()
        await task
