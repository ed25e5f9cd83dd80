"""Prometheus metrics: one registry per app (no process-global state), rendered at `GET /metrics`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.pool import QueuePool

from aegra.db.queue import QueueStorage
from aegra.schemas.status import RunStatus

if TYPE_CHECKING:
    from aegra.db.database import Database

RUN_STATUSES = tuple(RunStatus)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The server's metrics; process-local gauges are callbacks, database-wide ones refresh per scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "aegra_http_requests", "HTTP requests served.", ["method", "route", "status"], registry=self.registry
        )
        self.http_latency = Histogram(
            "aegra_http_request_duration_seconds",
            "Time to serve an HTTP request (for streams: until the stream ends).",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.runs_finished = Counter(
            "aegra_runs_finished", "Runs finished by this process, by final status.", ["status"], registry=self.registry
        )
        self.runs_by_status = Gauge("aegra_runs", "Runs in the database by status.", ["status"], registry=self.registry)
        self.queue_depth = Gauge(
            "aegra_run_queue_depth", "Pending runs ready to start (database-wide).", registry=self.registry
        )
        self.active_runs = Gauge("aegra_active_runs", "Runs executing in this process.", registry=self.registry)
        self.stream_subscribers = Gauge(
            "aegra_stream_subscribers",
            "Clients subscribed to live run streams in this process.",
            registry=self.registry,
        )
        self.db_pool = Gauge(
            "aegra_db_pool_connections",
            "Database pool connections by pool and state.",
            ["pool", "state"],
            registry=self.registry,
        )
        # (method, route template, status) -> its counter and histogram series; bounded like the series themselves
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def track_active_runs(self, read: Callable[[], float]) -> None:
        """Let the run worker report how many runs it is executing."""
        self.active_runs.set_function(read)

    def track_stream_subscribers(self, read: Callable[[], float]) -> None:
        """Let the event broker report its live subscriber count."""
        self.stream_subscribers.set_function(read)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:  # `labels()` validates and locks on every call: look each series up once
            children = (self.http_requests.labels(method, route, str(status)), self.http_latency.labels(method, route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def refresh(self, database: Database) -> None:
        """Read database-wide figures (runs by status, queue depth) and pool usage before a scrape."""
        async with database.engine.connect() as conn:
            storage = QueueStorage(conn)
            counts = await storage.runs_by_status()
            depth = await storage.ready_runs()
        for status in {*RUN_STATUSES, *counts}:
            self.runs_by_status.labels(status).set(counts.get(status, 0))
        self.queue_depth.set(depth)
        pool = database.engine.pool
        if isinstance(pool, QueuePool):  # the default; a NullPool (no pooling) has nothing to count
            self.db_pool.labels("metadata", "in_use").set(pool.checkedout())
            self.db_pool.labels("metadata", "idle").set(pool.checkedin())
        stats = database.lg_pool.get_stats()
        size = stats.get("pool_size", 0)
        available = stats.get("pool_available", 0)
        self.db_pool.labels("langgraph", "in_use").set(size - available)
        self.db_pool.labels("langgraph", "idle").set(available)

    def render(self) -> bytes:
        return generate_latest(self.registry)
