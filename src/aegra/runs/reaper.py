"""One pass of the reaper: runs whose process died go back in the queue (or end `error` after their last attempt,
their webhook queued in the same transaction), and kept events of long-ended runs are swept."""

from __future__ import annotations

import time
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
# Kept events are swept this often at most (every reaper pass when RUN_EVENTS_TTL_SECONDS is under ten times
# this): an event outlives its TTL by a tenth of it at most, and an idle process does not pay a DELETE per pass.
SWEEP_EVERY_SECONDS: Final = 60.0


class SweepClock:
    """When the reaper's next pass sweeps kept events: every pass until a sweep found less than its batches'
    worth (it has caught up), then once per min(SWEEP_EVERY_SECONDS, a tenth of the TTL)."""

    def __init__(self, settings: Settings) -> None:
        self.every = min(SWEEP_EVERY_SECONDS, settings.run_events_ttl_seconds / 10)
        self._next = 0.0  # monotonic: the first pass sweeps

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def swept(self, count: int) -> None:
        caught_up = count < SWEEP_BATCH * SWEEP_BATCHES_PER_PASS
        self._next = time.monotonic() + self.every if caught_up else 0.0


async def reap_and_sweep(
    database: Database, settings: Settings, *, origin: str, outbox: WebhookOutbox | None, sweeps: SweepClock
) -> list[RunRow]:
    """Reap expired leases and, when `sweeps` says so, sweep old events; returns the reaped rows (the caller tells
    its followers)."""
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
        if sweeps.due():
            swept = await _sweep(session, settings)
            sweeps.swept(swept)
    if swept:
        logger.info("swept kept events of ended runs", count=swept)
    if outbox is not None and any(queued):
        outbox.wake()
    return reaped


async def _sweep(session: AsyncSession, settings: Settings) -> int:
    """Drop kept events of long-ended runs, a batch at a time while batches come back full, within reason."""
    swept = 0
    for _ in range(SWEEP_BATCHES_PER_PASS):
        batch = await queue.sweep_run_events(session, ttl_seconds=settings.run_events_ttl_seconds, batch=SWEEP_BATCH)
        swept += batch
        if batch < SWEEP_BATCH:
            break
    return swept
