"""The durable webhook outbox: a run's webhook is a `webhook_deliveries` row, inserted in the transaction that
records the run's ending, so it survives any crash after that commit. Every process delivers: it claims due
deliveries with `FOR UPDATE SKIP LOCKED` and a short lease, makes one attempt each, and records the outcome (or the
next attempt's time, with backoff). A process that dies mid-attempt leaves its lease to expire and another process
tries again: delivered at least once, every attempt carrying the delivery's id as its `Idempotency-Key` header so
a receiver can drop repeats."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aegra import serde
from aegra.db.availability import DATABASE_ERRORS
from aegra.db.database import Database
from aegra.db.models import Run as RunRow
from aegra.runs.contract import RunKwargs
from aegra.runs.webhooks import RETRY_BASE_SECONDS, RETRY_CAP_SECONDS, Outcome, WebhookSender, run_payload

logger = structlog.get_logger(__name__)

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
POLL_SECONDS: Final = 5.0  # the safety net: a process wakes its own outbox when it queues a delivery
LEASE_MARGIN_SECONDS: Final = 5.0  # a claimed delivery is another process's to retry this long after its deadline
SWEEP_EVERY_SECONDS: Final = 60.0

ENQUEUE: Final = """
INSERT INTO webhook_deliveries (delivery_id, run_id, url, body) VALUES (:delivery_id, :run_id, :url, :body)
"""
# The due deliveries nobody else is attempting (never claimed, or their claimer's lease ran out), oldest first.
CLAIM: Final = """
UPDATE webhook_deliveries
SET attempts = attempts + 1, locked_by = :owner, locked_until = now() + make_interval(secs => :lease_seconds),
    updated_at = now()
WHERE delivery_id IN (
    SELECT delivery_id FROM webhook_deliveries
    WHERE status = 'pending' AND available_at <= now() AND (locked_until IS NULL OR locked_until < now())
    ORDER BY available_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
RETURNING delivery_id, run_id, url, body, attempts
"""
# Only while this process still holds the claim (a lease that ran out may have been claimed again elsewhere).
SETTLE: Final = """
UPDATE webhook_deliveries
SET status = :status, last_error = :error, locked_by = NULL, locked_until = NULL, updated_at = now(),
    available_at = now() + make_interval(secs => :delay)
WHERE delivery_id = :delivery_id AND locked_by = :owner
"""
NEXT_DUE: Final = """
SELECT min(GREATEST(available_at, COALESCE(locked_until, available_at))) FROM webhook_deliveries
WHERE status = 'pending'
"""
SWEEP: Final = """
DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < now() - make_interval(secs => :keep_seconds)
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed delivery: where, what, and which attempt this is."""

    delivery_id: uuid.UUID
    run_id: uuid.UUID
    url: str
    body: bytes
    attempts: int


async def enqueue_delivery(session: AsyncSession, *, run_id: uuid.UUID, url: str, body: bytes) -> uuid.UUID:
    """Queue a delivery in the caller's transaction (commit is the caller's); its id is its idempotency key."""
    delivery_id = uuid.uuid4()
    await session.execute(text(ENQUEUE), {"delivery_id": delivery_id, "run_id": run_id, "url": url, "body": body})
    return delivery_id


async def enqueue_reaped_webhook(session: AsyncSession, row: RunRow) -> bool:
    """Queue the webhook of a run the reaper ends `error`, in the reaper's transaction (commit is the caller's);
    True if there was one to queue."""
    try:
        webhook = RunKwargs.decode(row.kwargs).webhook
    except msgspec.ValidationError as exc:  # an auth handler may have stored anything; the reaper goes on
        logger.warning("run kwargs do not decode; no webhook sent", run_id=str(row.run_id), error=str(exc))
        return False
    if not webhook:
        return False
    payload = run_payload(row, status=row.status, values=None, error=row.error, ended_at=row.updated_at)
    await enqueue_delivery(session, run_id=row.run_id, url=webhook, body=serde.dumps(payload))
    return True


def backoff_seconds(attempts: int) -> float:
    """How long to wait after the `attempts`-th failed attempt."""
    return float(min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1)))


class WebhookOutbox:
    """This process's share of the outbox: claims due deliveries and attempts them; started by the run lifespan."""

    def __init__(
        self, database: Database, sender: WebhookSender, *, owner: str, max_attempts: int, keep_seconds: float
    ) -> None:
        self.database = database
        self.sender = sender
        self.owner = owner
        self.max_attempts = max_attempts
        self.keep_seconds = keep_seconds
        self.lease_seconds = sender.timeout + LEASE_MARGIN_SECONDS
        self.batch = sender.max_concurrency
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._swept_at = 0.0
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="aegra-webhook-outbox")

    async def stop(self, *, grace: float) -> None:
        """Stop claiming; give the attempts in flight `grace` seconds. One cut short is retried (by any process) once
        its lease runs out, and so is every delivery still queued."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        if grace > 0:
            await asyncio.wait([self._task], timeout=grace)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def wake(self) -> None:
        """A delivery was queued here: attempt it now rather than at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self.claim()
                await self._sweep()
                wait = 0.0 if claimed else await self._idle_seconds()
            except DATABASE_ERRORS as exc:
                logger.warning("webhook outbox: the database failed; retrying", error=str(exc))
                await self._idle(POLL_SECONDS)
                continue
            if claimed:
                await asyncio.gather(*(self.attempt(delivery) for delivery in claimed))
                continue
            await self._idle(wait)

    async def claim(self) -> list[Delivery]:
        """Take up to a batch of due deliveries for this process (attempt + 1, leased); commits."""
        params = {"owner": self.owner, "lease_seconds": self.lease_seconds, "batch": self.batch}
        async with self.database.autocommit_engine.connect() as conn:  # one statement: no BEGIN and COMMIT
            rows = (await conn.execute(text(CLAIM), params)).all()
        return [Delivery(row.delivery_id, row.run_id, row.url, bytes(row.body), row.attempts) for row in rows]

    async def attempt(self, delivery: Delivery) -> Outcome:
        """POST the delivery once and record what came of it (delivered, failed, or the next attempt's time)."""
        headers = {IDEMPOTENCY_HEADER: str(delivery.delivery_id)}
        outcome = await self.sender.attempt(
            delivery.url, delivery.body, attempt=delivery.attempts, run_id=str(delivery.run_id), headers=headers
        )
        status, delay, error = "delivered", 0.0, None
        if outcome is Outcome.FINAL:
            status, error = "failed", "refused or rejected"
        elif outcome is Outcome.RETRY and delivery.attempts >= self.max_attempts:
            status, error = "failed", f"gave up after {delivery.attempts} attempts"
            logger.error("webhook gave up", run_id=str(delivery.run_id), attempts=delivery.attempts)
        elif outcome is Outcome.RETRY:
            status, delay, error = "pending", backoff_seconds(delivery.attempts), "retrying"
        await self._settle(delivery, status=status, delay=delay, error=error)
        return outcome

    async def _settle(self, delivery: Delivery, *, status: str, delay: float, error: str | None) -> None:
        params: dict[str, Any] = {
            "delivery_id": delivery.delivery_id,
            "owner": self.owner,
            "status": status,
            "error": error,
            "delay": delay,
        }
        try:
            async with self.database.sessionmaker() as session:
                await session.execute(text(SETTLE), params)
                await session.commit()
        except DATABASE_ERRORS as exc:  # the lease runs out and the delivery is attempted again: at least once
            logger.warning("webhook outcome not recorded", run_id=str(delivery.run_id), error=str(exc))
        if status == "pending":
            self._wake_after(delay)

    def _wake_after(self, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def _idle_seconds(self) -> float:
        async with self.database.autocommit_engine.connect() as conn:
            due: datetime | None = (await conn.execute(text(NEXT_DUE))).scalar()
        if due is None:
            return POLL_SECONDS
        return max(0.0, min(POLL_SECONDS, (due - datetime.now(UTC)).total_seconds()))

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _sweep(self) -> None:
        """Now and then, forget deliveries settled longer ago than RUN_EVENTS_TTL_SECONDS."""
        now = asyncio.get_running_loop().time()
        if now - self._swept_at < SWEEP_EVERY_SECONDS:
            return
        self._swept_at = now
        async with self.database.sessionmaker() as session:
            await session.execute(text(SWEEP), {"keep_seconds": self.keep_seconds})
            await session.commit()
