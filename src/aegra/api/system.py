"""`/ok`, `/info`, `/health`: what load balancers, the SDK and Studio probe."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
import structlog
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy.exc import SQLAlchemyError

from aegra import __version__
from aegra.db.database import Database
from aegra.errors import NotFoundError
from aegra.observability.metrics import Metrics

logger = structlog.get_logger(__name__)


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
        if check_db:
            try:
                await database.ping()
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("database ping failed", error=str(exc))
                return Response({"detail": "Database is unreachable"}, status_code=500)
        return Response(Ok(ok=True))

    @get("/health", operation_id="health", summary="Readiness probe (checks the database)")
    async def health(self, database: NamedDependency[Database]) -> Response[Any]:
        try:
            await database.ping()
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("database ping failed", error=str(exc))
            return Response({"status": "unhealthy", "database": "unreachable"}, status_code=503)
        return Response({"status": "healthy", "database": "ok"})

    @get("/metrics", operation_id="metrics", summary="Prometheus metrics", media_type="text/plain; version=0.0.4")
    async def metrics(self, state: State, database: NamedDependency[Database]) -> Response[bytes]:
        metrics: Metrics | None = state.metrics
        if metrics is None:
            raise NotFoundError("Metrics are disabled (ENABLE_PROMETHEUS_METRICS=false)")
        await metrics.refresh(database)
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
