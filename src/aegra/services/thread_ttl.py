"""Thread TTL: a background sweeper that deletes (or prunes to their latest checkpoint) expired threads.

A thread with a TTL expires `ttl_minutes` after its last activity (`updated_at`), and never before
`expires_at`. Several server processes may sweep at once: rows are claimed with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from aegra.config import AegraConfig
from aegra.db.availability import DATABASE_ERRORS
from aegra.db.database import Database
from aegra.db.models import utcnow
from aegra.db.repositories.threads import ThreadRepository
from aegra.errors import ApiError, ConfigError
from aegra.schemas.threads import ThreadTtl
from aegra.services.threads import prune_checkpoints

logger = structlog.get_logger(__name__)

DEFAULT_SWEEP_INTERVAL_MINUTES = 5.0
DEFAULT_SWEEP_BATCH = 1000
TTL_STRATEGIES = ("delete", "keep_latest")


@dataclass(frozen=True, slots=True)
class SweepResult:
    deleted: int
    pruned: int
    postponed: int


def default_thread_ttl(config: AegraConfig) -> ThreadTtl | None:
    """`checkpointer.ttl.default_ttl` from aegra.json, applied to threads created without a `ttl`."""
    ttl = config.checkpointer.ttl if config.checkpointer is not None else None
    if ttl is None or ttl.default_ttl is None:
        return None
    if ttl.strategy not in TTL_STRATEGIES:
        raise ConfigError(f"checkpointer.ttl.strategy must be one of {list(TTL_STRATEGIES)}, got {ttl.strategy!r}")
    if ttl.default_ttl <= 0:
        raise ConfigError("checkpointer.ttl.default_ttl must be a positive number of minutes")
    return ThreadTtl(ttl=ttl.default_ttl, strategy=ttl.strategy)  # type: ignore[arg-type]  # a str, checked against TTL_STRATEGIES above


def sweep_interval_seconds(config: AegraConfig) -> float:
    ttl = config.checkpointer.ttl if config.checkpointer is not None else None
    minutes = ttl.sweep_interval_minutes if ttl is not None else DEFAULT_SWEEP_INTERVAL_MINUTES
    if minutes <= 0:
        raise ConfigError("checkpointer.ttl.sweep_interval_minutes must be positive")
    return minutes * 60


async def sweep_expired_threads(database: Database, *, batch: int = DEFAULT_SWEEP_BATCH) -> SweepResult:
    """One sweep: act on up to `batch` expired threads that no run is using."""
    now = utcnow()
    async with database.sessionmaker() as session, session.begin():
        threads = ThreadRepository(session)
        claimed = await threads.claim_expired(now, batch=batch)
        due = [thread for thread in claimed if thread.expiry <= now]
        to_delete = [thread.thread_id for thread in due if thread.strategy != "keep_latest"]
        to_prune = [thread.thread_id for thread in due if thread.strategy == "keep_latest"]
        postponed = [thread for thread in claimed if thread.expiry > now]  # active since: expires later
        if to_delete:
            await threads.delete_all(to_delete)
        for thread in postponed:
            await threads.postpone_expiry(thread.thread_id, thread.expiry)
        if to_prune:
            await threads.renew_expiry(to_prune)  # pruned threads keep their latest checkpoint for one more TTL
    if to_delete:
        await prune_checkpoints(database, [str(thread_id) for thread_id in to_delete], strategy="delete")
    if to_prune:
        await prune_checkpoints(database, [str(thread_id) for thread_id in to_prune], strategy="keep_latest")
    return SweepResult(deleted=len(to_delete), pruned=len(to_prune), postponed=len(postponed))


class ThreadTtlSweeper:
    """Runs `sweep_expired_threads` every `interval` seconds until stopped (owned by the app lifespan)."""

    def __init__(self, database: Database, *, interval: float, batch: int = DEFAULT_SWEEP_BATCH) -> None:
        self.database = database
        self.interval = interval
        self.batch = batch
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="aegra-thread-ttl-sweeper")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            await self._sweep_until_caught_up()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)

    async def _sweep_until_caught_up(self) -> None:
        while not self._stopping.is_set():
            try:
                result = await sweep_expired_threads(self.database, batch=self.batch)
            except (*DATABASE_ERRORS, ApiError) as exc:  # the database may be down: try again next interval
                logger.warning("thread ttl sweep failed", error=str(exc))
                return
            if result.deleted or result.pruned:
                logger.info("thread ttl sweep", deleted=result.deleted, pruned=result.pruned)
            if result.deleted + result.pruned + result.postponed < self.batch:
                return
