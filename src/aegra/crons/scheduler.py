"""Fires due crons. Every `aegra serve` process runs one; row locks with SKIP LOCKED make each firing happen
exactly once across processes. After downtime a cron fires once (catch-up), then resumes its schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aegra.crons.schedule import next_fire_time
from aegra.db.models import Cron as CronRow
from aegra.db.models import utcnow

logger = structlog.get_logger(__name__)

# Creates the run of one firing inside the scheduler's transaction (so the run and the new
# next_run_date commit together, or neither does).
RunLauncher = Callable[[AsyncSession, CronRow, datetime], Awaitable[None]]
Clock = Callable[[], datetime]


class CronScheduler:
    """Finds due crons, launches their runs and moves their next firing forward."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        launch: RunLauncher,
        *,
        clock: Clock = utcnow,
        poll_seconds: float = 5.0,
        batch_size: int = 50,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.launch = launch
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size

    async def fire_due(self) -> int:
        """Fire every cron due now (once each); return how many fired."""
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            due = (
                await session.scalars(
                    select(CronRow)
                    .where(CronRow.enabled, CronRow.next_run_date.is_not(None), CronRow.next_run_date <= now)
                    .order_by(CronRow.next_run_date)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            fired = 0
            for cron in due:
                if cron.end_time is not None and cron.end_time <= now:
                    cron.next_run_date = None
                    continue
                await self.launch(session, cron, now)
                upcoming = next_fire_time(cron.schedule, now, cron.timezone)
                cron.next_run_date = upcoming if cron.end_time is None or upcoming < cron.end_time else None
                fired += 1
        if fired:
            logger.info("crons fired", count=fired)
        return fired

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; a failing poll is logged and retried on the next tick."""
        while not stop.is_set():
            try:
                await self.fire_due()
            except (TimeoutError, OSError) as exc:
                logger.warning("cron poll failed", error=str(exc))
            except Exception:  # a bad cron must not kill the scheduler for every other cron
                logger.exception("cron poll failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                continue
