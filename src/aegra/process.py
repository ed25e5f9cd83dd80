"""One process's machinery besides HTTP: the database (embedded when DATABASE_URL is unset), the system
assistants, the run workers, the webhook outbox, the sweepers, the cron scheduler and the custom app's lifespan.
The API app runs it as its lifespan; `aegra worker` runs it alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from langgraph.store.base import TTLConfig
from langgraph.store.postgres.base import PostgresIndexConfig
from litestar import Litestar
from litestar.datastructures import State
from litestar.types import ASGIApp

from aegra import collector
from aegra.auth.handlers import AuthHandlers
from aegra.auth.loader import load_auth_handlers
from aegra.config import AegraConfig
from aegra.crons.launcher import CronRunLauncher
from aegra.crons.scheduler import CronScheduler, serve_crons
from aegra.custom_routes import app_lifespan, load_custom_app
from aegra.db import migrate
from aegra.db.database import Database
from aegra.db.embedded import EmbeddedPostgres
from aegra.db.url import redact
from aegra.graphs.registry import GraphRegistry
from aegra.observability.metrics import Metrics
from aegra.runs.lifespan import serve_runs
from aegra.services.assistants import AssistantService
from aegra.services.thread_ttl import ThreadTtlSweeper, default_thread_ttl, sweep_interval_seconds
from aegra.settings import Settings
from aegra.store.embeddings import build_index_config
from aegra.store.ttl import build_ttl_config, ttl_sweeper

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

logger = structlog.get_logger(__name__)


def _tracer_provider(settings: Settings, span_exporters: Sequence[SpanExporter] | None) -> TracerProvider | None:
    """The OpenTelemetry tracer provider when OTEL_TARGETS (or `span_exporters`) names an exporter; without one,
    neither `aegra.observability.tracing` nor an exporter is imported."""
    if span_exporters is None and not settings.otel_targets:
        return None
    from aegra.observability.tracing import build_exporters, build_tracer_provider

    exporters = list(span_exporters) if span_exporters is not None else build_exporters(settings.otel_targets)
    if not exporters:
        return None
    return build_tracer_provider(settings.otel_service_name, exporters, batch=span_exporters is None)


def _tracer(provider: TracerProvider | None) -> Tracer | None:
    if provider is None:
        return None
    from aegra.observability.tracing import TRACER_NAME

    return provider.get_tracer(TRACER_NAME)


def _warn_without_auth(auth: AuthHandlers | None) -> None:
    if auth is None:
        logger.warning(
            "NO AUTHENTICATION: aegra.json has no `auth.path`, so anyone who can reach this server can read "
            "and change every assistant, thread, run, cron and store item. Configure `auth` before exposing it."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifespan:
    """What the app runs while it serves: the database (embedded when DATABASE_URL is unset), the system
    assistants, the run workers, the sweepers, the cron scheduler and the custom app's own lifespan."""

    settings: Settings
    config: AegraConfig
    graphs: GraphRegistry
    auth: AuthHandlers | None
    custom_app: ASGIApp | None
    custom_state: dict[str, Any]
    tracer_provider: TracerProvider | None
    store_index: PostgresIndexConfig | None
    store_ttl: TTLConfig | None

    @asynccontextmanager
    async def __call__(self, app: Litestar) -> AsyncIterator[None]:
        async with self.running(app.state):
            yield

    @asynccontextmanager
    async def running(self, state: State) -> AsyncIterator[None]:
        """Everything but HTTP (what `aegra worker` runs alone): `state.database` and the run machinery."""
        embedded: EmbeddedPostgres | None = None
        url = self.settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(self.settings.embedded_pgdata)
            url = embedded.start()
        database = Database(url, self.settings, store_index=self.store_index, store_ttl=self.store_ttl)
        try:
            if not self.settings.run_migrations:
                await migrate.require_current(database.engine)
            await database.open()
            async with database.sessionmaker() as session:
                await AssistantService(session, self.graphs).ensure_system_assistants()
            state.database = database
            logger.info("aegra ready", database=redact(url), graphs=self.graphs.graph_ids())
            _warn_without_auth(self.auth)
            # What startup built (modules, graphs, pools) lives as long as the process: out of the collector's
            # sight, full collections stop re-scanning those ~10^5 objects (they halved a token stream's rate).
            # The commands pause the collector while they import and build; it runs again from here.
            collector.resume()
            async with self._background(state, database):
                yield
        finally:
            await database.close()
            if embedded is not None:
                embedded.stop()
            if self.tracer_provider is not None:
                self.tracer_provider.shutdown()

    @asynccontextmanager
    async def _background(self, state: State, database: Database) -> AsyncIterator[None]:
        """The run machinery and the custom app; unless the process is API-only, the sweepers and crons too."""
        custom = self.custom_app
        async with (
            serve_runs(state, database),
            app_lifespan(custom, self.custom_state) if custom is not None else nullcontext(),
        ):
            if not self.settings.workers_enabled:
                yield  # API only: the worker processes sweep and fire crons
                return
            async with self._sweepers_and_crons(state, database):
                yield

    @asynccontextmanager
    async def _sweepers_and_crons(self, state: State, database: Database) -> AsyncIterator[None]:
        thread_sweeper = ThreadTtlSweeper(database, interval=sweep_interval_seconds(self.config))
        thread_sweeper.start()
        try:
            async with ttl_sweeper(database.store):
                launcher = CronRunLauncher(self.graphs, database, state.run_broker, state.run_workers, auth=self.auth)
                scheduler = CronScheduler(database.sessionmaker, launcher, poll_seconds=self.settings.cron_poll_seconds)
                async with serve_crons(scheduler):
                    yield
        finally:
            await thread_sweeper.stop()


def app_state(lifespan: Lifespan, metrics: Metrics | None) -> State:
    """`app.state` at startup; the lifespan adds the database and the run machinery."""
    return State(
        {
            "registry": lifespan.graphs,
            "settings": lifespan.settings,
            "config": lifespan.config,
            "metrics": metrics,
            "tracer": _tracer(lifespan.tracer_provider),
            "auth_handlers": lifespan.auth,
        }
    )


def build_lifespan(
    settings: Settings,
    config: AegraConfig,
    *,
    registry: GraphRegistry | None = None,
    span_exporters: Sequence[SpanExporter] | None = None,
    http: bool = True,
) -> tuple[Lifespan, State]:
    """What a process runs besides HTTP, and the state it starts with; graphs are imported now so a broken graph
    fails before serving. `http=False` (`aegra worker`): no custom app is loaded."""
    graphs = registry if registry is not None else GraphRegistry.from_config(config)
    auth = load_auth_handlers(config)  # after the graphs: `dependencies` are on sys.path by now
    custom_app = load_custom_app(config) if http else None
    store_index, store_ttl = build_index_config(config), build_ttl_config(config)
    default_thread_ttl(config)  # a bad `checkpointer.ttl` fails at startup, not on the first request
    metrics = Metrics() if settings.metrics_enabled else None
    lifespan = Lifespan(
        settings=settings,
        config=config,
        graphs=graphs,
        auth=auth,
        custom_app=custom_app,
        custom_state={},
        tracer_provider=_tracer_provider(settings, span_exporters),
        store_index=store_index,
        store_ttl=store_ttl,
    )
    return lifespan, app_state(lifespan, metrics)
