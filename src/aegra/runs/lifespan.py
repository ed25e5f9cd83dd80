"""The run machinery of one process for the app's lifetime: the event broker (with its Redis relay when
`REDIS_URL` is set), the executor, the webhook sender and the worker pool."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator

from litestar.datastructures import State

from aegra.db.database import Database
from aegra.observability.metrics import Metrics
from aegra.runs import queue
from aegra.runs.broker import RunBroker
from aegra.runs.events import EventStore
from aegra.runs.executor import RunExecutor
from aegra.runs.relay import RedisRelay
from aegra.runs.webhooks import WebhookSender
from aegra.runs.worker import WorkerPool
from aegra.settings import Settings


@contextlib.asynccontextmanager
async def serve_runs(state: State, database: Database) -> AsyncIterator[None]:
    """Start this process's run broker and workers for the app's lifetime (`state.run_broker`, `state.run_workers`,
    `state.webhooks`)."""
    settings: Settings = state.settings
    metrics: Metrics | None = state.get("metrics")
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    relay = RedisRelay(settings.redis_url) if settings.redis_url else None
    broker = RunBroker(
        EventStore(database.engine, origin=worker_id, channel=queue.CHANNEL_EVENTS),
        relay=relay,
        subscriber_queue_max=settings.stream_subscriber_queue_max,
    )
    webhooks = WebhookSender(settings)
    executor = RunExecutor(
        database=database,
        registry=state.registry,
        broker=broker,
        worker_id=worker_id,
        timeout_seconds=settings.bg_job_timeout_secs,
        metrics=metrics,
        tracer=state.get("tracer"),
        webhooks=webhooks,
    )
    workers = WorkerPool(
        database=database,
        executor=executor,
        broker=broker,
        concurrency=settings.n_jobs_per_worker,
        settings=settings,
    )
    state.run_broker = broker
    state.run_workers = workers
    state.webhooks = webhooks
    if metrics is not None:
        metrics.track_active_runs(lambda: workers.active_count)
        metrics.track_stream_subscribers(lambda: broker.subscriber_count)
    await workers.start()
    try:
        yield
    finally:
        await workers.stop()
        await webhooks.aclose(grace=settings.webhook_timeout_seconds)
        if relay is not None:
            await relay.aclose()
