"""One pass of the reaper: runs whose process died go back in the queue (or end `error` after their last attempt,
their webhook queued in the same transaction), and kept events of long-ended runs are swept."""

from __future__ import annotations

from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.runs import queue
from aegra.runs.outbox import WebhookOutbox, enqueue_reaped_webhook
from aegra.settings import Settings

logger = structlog.get_logger(__name__)

SWEEP_BATCH: Final = 5000
SWEEP_BATCHES_PER_PASS: Final = 20


async def reap_and_sweep(
    database: Database, settings: Settings, *, origin: str, outbox: WebhookOutbox | None
) -> list[RunRow]:
    """Reap expired leases and sweep old events; returns the reaped rows (the caller tells its followers)."""
    queued: list[bool] = []

    async def queue_webhook(session: AsyncSession, row: RunRow) -> None:
        queued.append(await enqueue_reaped_webhook(session, row))

    async with database.sessionmaker() as session:
        reaped = await queue.reap_expired_leases(
            session,
            origin=origin,
            max_attempts=settings.run_max_attempts,
            on_ended=queue_webhook if outbox is not None else None,
        )
        swept = 0
        for _ in range(SWEEP_BATCHES_PER_PASS):  # a busy server keeps many events: catch up, within reason
            batch = await queue.sweep_run_events(
                session, ttl_seconds=settings.run_events_ttl_seconds, batch=SWEEP_BATCH
            )
            swept += batch
            if batch < SWEEP_BATCH:
                break
    if swept:
        logger.info("swept kept events of ended runs", count=swept)
    if outbox is not None and any(queued):
        outbox.wake()
    return reaped
