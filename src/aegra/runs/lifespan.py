"""The run machinery of one process for the app's lifetime: the event broker (with its Redis relay when
`REDIS_URL` is set), the executor, the webhook outbox and the worker pool (which claims runs unless the process is
API-only)."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from litestar.datastructures import State

from aegra.db.database import Database
from aegra.observability.metrics import Metrics
from aegra.runs import queue
from aegra.runs.broker import RunBroker
from aegra.runs.capacity import runs_per_process
from aegra.runs.events import EventStore
from aegra.runs.executor import RunExecutor
from aegra.runs.intake import RunIntake
from aegra.runs.outbox import WebhookOutbox
from aegra.runs.webhooks import WebhookSender
from aegra.runs.worker import WorkerPool
from aegra.settings import Settings

if TYPE_CHECKING:
    from aegra.runs.relay import RedisRelay


def _redis_relay(settings: Settings, database_url: str) -> RedisRelay | None:
    """The Redis relay when REDIS_URL is set; without it, `redis` is never imported."""
    if not settings.redis_url:
        return None
    from aegra.runs.relay import RedisRelay, channel_prefix

    return RedisRelay(settings.redis_url, prefix=channel_prefix(settings.redis_channel_prefix, database_url))


@contextlib.asynccontextmanager
async def serve_runs(state: State, database: Database) -> AsyncIterator[None]:
    """Start this process's run broker and workers for the app's lifetime (`state.run_broker`, `state.run_workers`,
    `state.webhooks`)."""
    settings: Settings = state.settings
    metrics: Metrics | None = state.get("metrics")
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    relay = _redis_relay(settings, database.url)
    broker = RunBroker(
        EventStore(database.engine, origin=worker_id, channel=queue.CHANNEL_EVENTS),
        relay=relay,
        subscriber_queue_max=settings.stream_subscriber_queue_max,
    )
    webhooks = WebhookSender(settings)
    outbox = WebhookOutbox(
        database,
        webhooks,
        owner=worker_id,
        max_attempts=settings.webhook_max_attempts,
        keep_seconds=settings.run_events_ttl_seconds,
    )
    # Runs give way once more run-creating requests are in flight than the metadata pool serves at once.
    backlog = settings.db_pool_size + settings.db_max_overflow
    intake = RunIntake(max_wait_seconds=settings.run_start_yield_seconds, backlog=backlog)
    executor = RunExecutor(
        database=database,
        registry=state.registry,
        broker=broker,
        worker_id=worker_id,
        timeout_seconds=settings.bg_job_timeout_secs,
        metrics=metrics,
        tracer=state.get("tracer"),
        webhooks=webhooks,
        outbox=outbox,
        intake=intake,
    )
    workers = WorkerPool(
        database=database,
        executor=executor,
        broker=broker,
        concurrency=runs_per_process(settings),
        settings=settings,
        claims=settings.workers_enabled,
    )
    state.run_broker = broker
    state.run_workers = workers
    state.run_intake = intake
    state.webhooks = webhooks
    if metrics is not None:
        metrics.track_active_runs(lambda: workers.active_count)
        metrics.track_stream_subscribers(lambda: broker.subscriber_count)
    await workers.start()
    outbox.start()
    try:
        yield
    finally:
        await workers.stop()
        await outbox.stop(grace=settings.webhook_timeout_seconds)
        await webhooks.aclose()
        if relay is not None:
            await relay.aclose()
