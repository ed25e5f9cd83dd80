"""The connections one process may open (its pools at their caps, the claim/heartbeat engine, the LISTEN
connection), checked at startup against what the PostgreSQL server still has room for: past that, requests fail
with "too many clients" under load instead of queueing, so the process says so before it happens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import psycopg
import structlog

from aegra.settings import Settings

logger = structlog.get_logger(__name__)

CONTROL_CONNECTIONS: Final = 2  # claims and lease heartbeats (`Database.control_engine`)
LISTEN_CONNECTIONS: Final = 1  # the worker pool's LISTEN connection

# The server's limit, its reserved slots and the client backends connected now, other than this one.
SERVER_ROOM: Final = """
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) AS in_use
"""


@dataclass(frozen=True, slots=True)
class ServerRoom:
    max_connections: int
    reserved: int
    in_use: int  # client connections open now, other than the one asking (at startup, this process's only one)


def process_budget(settings: Settings) -> int:
    """The most connections this process opens (docs/deployment.md gives the same sum)."""
    metadata = settings.db_pool_size + settings.db_max_overflow
    return metadata + settings.langgraph_pool_max_size + CONTROL_CONNECTIONS + LISTEN_CONNECTIONS


def budget_warning(budget: int, room: ServerRoom) -> str | None:
    """Why this process may run out of connections (None: its budget fits)."""
    free = room.max_connections - room.reserved - room.in_use
    if budget <= free:
        return None
    return (
        f"this process may open {budget} connections but the database has room for {max(free, 0)} "
        f"(max_connections {room.max_connections}, {room.reserved} reserved, {room.in_use} in use by others)"
        ": lower SQLALCHEMY_POOL_SIZE, SQLALCHEMY_MAX_OVERFLOW or LANGGRAPH_MAX_POOL_SIZE, or raise "
        "max_connections (docs/deployment.md)"
    )


async def warn_if_over_budget(conn: psycopg.AsyncConnection[Any], settings: Settings) -> None:
    """Log a warning when this process's connection budget exceeds the server's room (a check, never fatal)."""
    try:
        cursor = await conn.execute(SERVER_ROOM)
        row = await cursor.fetchone()
    except psycopg.Error as exc:  # e.g. a role that may not read the settings: nothing to say
        logger.debug("could not read the database's connection limit", error=str(exc))
        return
    if row is None:
        return
    values = row.values() if isinstance(row, dict) else row  # the pool's connections return dicts
    warning = budget_warning(process_budget(settings), ServerRoom(*(int(value) for value in values)))
    if warning is not None:
        logger.warning("connection budget exceeds the database's limit", detail=warning)
