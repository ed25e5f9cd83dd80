"""Embedded PostgreSQL (pgserver: PG 18 + pgvector) for when DATABASE_URL is unset."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from pgserver import PostgresServer

logger = structlog.get_logger(__name__)

# pgserver keeps the pids of the processes using a cluster here, and stops the server when the last one leaves.
HANDLE_PIDS_FILE = ".handle_pids.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop the pids of processes that died without letting go of the cluster; return the ones dropped.

    A process killed with SIGKILL never runs pgserver's exit hook, so its pid stays in the handle list and
    nobody would ever stop the server again. Call this under pgserver's inter-process lock.
    """
    handles = pgdata / HANDLE_PIDS_FILE
    if not handles.is_file():
        return []
    try:
        pids = [int(pid) for pid in json.loads(handles.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    dead = [pid for pid in pids if pid != os.getpid() and not _pid_alive(pid)]
    if dead:
        handles.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


class EmbeddedPostgres:
    """A pgserver cluster in `pgdata`, started on demand and stopped on `stop()` (or at exit).

    Several processes may share one cluster: the server stops when the last of them calls `stop()`.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self._server: PostgresServer | None = None

    @property
    def running(self) -> bool:
        """Whether this handle holds the cluster open."""
        return self._server is not None

    def start(self) -> str:
        """Start (or attach to) the cluster and return its connection URL."""
        with warnings.catch_warnings():
            # pgserver keeps its lock file in the runtime dir; the fallback when XDG_RUNTIME_DIR is unset is fine.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver  # imported lazily: only the embedded path needs it
            from pgserver.postgres_server import PostgresServer

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:  # the same lock pgserver takes around its handle list
            dropped = forget_dead_handles(self.pgdata)
        if dropped:
            logger.info("embedded postgres: forgot handles of dead processes", pids=dropped)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        url = self._server.get_uri()
        logger.debug("embedded postgres ready", pgdata=str(self.pgdata))
        return url

    def stop(self) -> None:
        """Let go of the cluster; the server stops when no other process uses it."""
        if self._server is None:
            return
        self._server.cleanup()
        self._server = None
