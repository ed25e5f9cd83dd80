"""Embedded PostgreSQL (pgserver: PG 18 + pgvector) for when DATABASE_URL is unset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from pgserver import PostgresServer

logger = structlog.get_logger(__name__)


class EmbeddedPostgres:
    """A pgserver cluster in `pgdata`, started on demand and stopped on `stop()` (or at exit)."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or attach to) the cluster and return its connection URL."""
        import pgserver  # imported lazily: only the embedded path needs it

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        url = self._server.get_uri()
        logger.info("embedded postgres ready", pgdata=str(self.pgdata))
        return url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.cleanup()
        self._server = None
