"""`/ok`, `/info`, `/health`: what load balancers, the SDK and Studio probe."""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import msgspec
import structlog
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery

from aegra import __version__
from aegra.db.availability import DATABASE_ERRORS, unavailable
from aegra.db.database import Database
from aegra.errors import NotFoundError
from aegra.observability.metrics import Metrics

logger = structlog.get_logger(__name__)

# A probe answers within this, database or not (langgraph-api's health check waits as long).
PROBE_TIMEOUT_SECONDS: Final = 3.0


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


class Ok(msgspec.Struct):
    ok: bool


@get("/ok", summary="Liveness probe", include_in_schema=False)
async def ok_only() -> Ok:
    """`/ok` when `http.disable_meta` removes the other system routes (the operator still sees the server is up)."""
    return Ok(ok=True)


class SystemController(Controller):
    tags = ["System"]

    @get(["/ok", "/"], summary="Liveness probe")
    async def ok(self, database: NamedDependency[Database], check_db: FromQuery[int] = 0) -> Response[Any]:
        """The process is up (never touches the database); `?check_db=1` also pings both pools, as in langgraph-api."""
        if check_db:
            problem = await database_problem(database)
            if problem is not None:
                return Response({"ok": False, "detail": problem}, status_code=503)
        return Response(Ok(ok=True))

    @get("/health", operation_id="health", summary="Readiness probe (checks the database)")
    async def health(self, database: NamedDependency[Database]) -> Response[Any]:
        problem = await database_problem(database)
        if problem is not None:
            return Response({"status": "unhealthy", "database": "unreachable", "detail": problem}, status_code=503)
        return Response({"status": "healthy", "database": "ok"})

    @get("/metrics", operation_id="metrics", summary="Prometheus metrics", media_type="text/plain; version=0.0.4")
    async def metrics(self, state: State, database: NamedDependency[Database]) -> Response[bytes]:
        """Process metrics always; the database-wide figures keep their last values while the database is down."""
        metrics: Metrics | None = state.metrics
        if metrics is None:
            raise NotFoundError("Metrics are disabled (ENABLE_PROMETHEUS_METRICS=false)")
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                await metrics.refresh(database)
        except TimeoutError:
            logger.warning("metrics: the database did not answer; its figures keep their last values")
        except DATABASE_ERRORS as exc:
            if unavailable(exc) is None:
                raise
            logger.warning("metrics: the database is unavailable; its figures keep their last values", error=str(exc))
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @get("/info", operation_id="info", summary="Server version and feature flags")
    async def info(self, database: NamedDependency[Database]) -> dict[str, Any]:
        return {
            "version": __version__,
            "server": "aegra",
            "langgraph_py_version": _package_version("langgraph"),
            "flags": {
                "assistants": True,
                "crons": True,
                "langsmith": False,
                "langsmith_tracing_replicas": False,
                "semantic_search": database.semantic_search,
            },
            # Why `query` store searches are not semantic although `store.index` asks for it (pgvector unusable).
            "store": {
                "semantic_search": database.semantic_search,
                "semantic_search_off_reason": database.semantic_search_off_reason,
            },
            "host": {
                "kind": "self-hosted",
                "project_id": None,
                "host_revision_id": None,
                "revision_id": None,
                "tenant_id": None,
            },
        }


async def database_problem(database: Database) -> str | None:
    """Why the database cannot serve requests now (both pools are pinged), or None when it answers."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await database.ping()
    except TimeoutError:
        problem = f"Database unavailable: no answer within {PROBE_TIMEOUT_SECONDS:g} s"
    except DATABASE_ERRORS as exc:
        outage = unavailable(exc)
        problem = outage.detail if outage is not None else f"Database error: {type(exc).__name__}"
    else:
        return None
    logger.warning("database ping failed", problem=problem)
    return problem
