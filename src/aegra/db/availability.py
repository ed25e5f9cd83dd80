"""Telling "the database is unreachable" apart from every other database error, for both drivers.

An outage shows up differently in each layer: an OSError or TimeoutError while asyncpg connects (which SQLAlchemy
lets through unwrapped; `report_connect_failures` wraps it), a DBAPI error SQLAlchemy marks `connection_invalidated`,
a psycopg OperationalError (refused, lost, admin shutdown), a pool that found no connection in time.
`unavailable(exc)` turns each of them into one `ServiceUnavailableError` (503, naming the cause); every other error
is left to its own handling.
"""

from __future__ import annotations

import select
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]
import psycopg
from psycopg.pq import ConnStatus
from psycopg_pool import PoolTimeout
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidatePoolError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as QueuePoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry

from aegra.errors import ServiceUnavailableError

# admin_shutdown, crash_shutdown, cannot_connect_now (starting up / shutting down), too_many_connections; and every
# state of class 08 (connection exception).
UNAVAILABLE_SQLSTATES: Final = frozenset({"57P01", "57P02", "57P03", "53300"})

# What a background loop catches around one turn of database work: it logs, waits and tries again.
DATABASE_ERRORS: Final = (SQLAlchemyError, psycopg.Error, OSError)

# What a raw asyncpg call (on a SQLAlchemy connection's `driver_connection`) raises: see `driver_error`.
DRIVER_ERRORS: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

# How deep `unavailable` looks through `raise ... from` chains (a library wrapping the driver's error).
_CAUSE_DEPTH: Final = 3


class DatabaseConnectError(OperationalError):
    """Opening a metadata connection failed (refused, timed out, rejected by the server)."""


def report_connect_failures(dialect: Dialect, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
    """SQLAlchemy `do_connect` listener: connect as SQLAlchemy would, but report any failure as a
    `DatabaseConnectError`, so `except SQLAlchemyError` sees a refused connection too and `unavailable` knows it
    happened while connecting (a bare OSError could come from anywhere)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except Exception as exc:
        raise DatabaseConnectError(None, None, exc) from exc


def discard_closed_connection(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """SQLAlchemy `checkout` listener: asyncpg notices, without a round trip, that the server closed a connection
    while it sat in the pool (restart, shutdown, terminated backend). Replace it, and every connection pooled
    before it: they went down with it."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise InvalidatePoolError("the server closed this pooled connection")


def heard_from_server(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle psycopg connection has something to read, or is known bad. Nothing arrives on a healthy idle
    connection; a server that went away left its goodbye (an admin-shutdown error, the end of the socket) there.
    A zero-timeout poll of the socket, no round trip."""
    if conn.pgconn.status != ConnStatus.OK:
        return True
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    return bool(readable)


def unavailable(exc: BaseException) -> ServiceUnavailableError | None:
    """The 503 for an error that means the database cannot be reached now; None for any other error."""
    current: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if current is None:
            return None
        cause = _outage_cause(current)
        if cause is not None:
            return ServiceUnavailableError(f"Database unavailable: {cause}")
        current = current.__cause__
    return None


def _outage_cause(exc: BaseException) -> str | None:
    if isinstance(exc, DatabaseConnectError):
        return _describe(exc.orig)
    if isinstance(exc, QueuePoolTimeout):
        return f"no pooled connection became free in time ({_sqlalchemy_message(exc)})"
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if exc.connection_invalidated or _unavailable_state(sqlstate):
            return f"connection lost ({_describe(exc.orig)})"
        return None
    if isinstance(exc, PoolTimeout):
        return f"no connection could be made in time ({exc})"
    if isinstance(exc, psycopg.OperationalError) and (exc.sqlstate is None or _unavailable_state(exc.sqlstate)):
        return _describe(exc)
    return None


def driver_error(exc: BaseException) -> DBAPIError:
    """An error of a raw asyncpg call as SQLAlchemy raises its own: a `DBAPIError` around it, marked
    `connection_invalidated` when the connection is gone (the caller invalidates it), so `unavailable` and the
    handlers see what they see from `Connection.execute`."""
    sqlstate = getattr(exc, "sqlstate", None)
    lost = not isinstance(exc, asyncpg.PostgresError) or _unavailable_state(sqlstate)
    return DBAPIError(None, None, exc, connection_invalidated=lost)


def _unavailable_state(sqlstate: str | None) -> bool:
    return sqlstate is not None and (sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES)


def _describe(error: BaseException | None) -> str:
    """A short cause without addresses or socket paths: `connection refused`, `terminating connection due to
    administrator command`, ..."""
    if isinstance(error, (ConnectionRefusedError, FileNotFoundError)):  # TCP port closed, or no Unix socket file
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "connection timed out"
    if isinstance(error, OSError):
        return (error.strerror or type(error).__name__).lower()
    text = str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""
    # libpq: 'connection to server at "host", port 5432 failed: Connection refused'
    text = text.rsplit(" failed: ", 1)[-1].strip()
    if text.lower() in ("connection refused", "no such file or directory"):
        return "connection refused"
    if not text:
        return type(error).__name__ if error is not None else "unknown error"
    return text[0].lower() + text[1:]


def _sqlalchemy_message(exc: SQLAlchemyError) -> str:
    return str(exc).split(" (Background on this error", 1)[0].strip()
