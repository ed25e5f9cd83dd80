"""Which database errors mean "the database is unreachable" (503 naming the cause) and which stay errors of ours."""

from __future__ import annotations

import asyncpg
import psycopg
import psycopg.errors
import pytest
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as QueuePoolTimeout

from aegra.api.inputs import client_data_error
from aegra.db.availability import DatabaseConnectError, driver_error, unavailable


class DriverError(Exception):
    """What asyncpg's errors look like through SQLAlchemy's adapter: a message and a SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (
            DatabaseConnectError(None, None, ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")),
            "connection refused",
        ),
        (DatabaseConnectError(None, None, FileNotFoundError(2, "No such file or directory")), "connection refused"),
        (DatabaseConnectError(None, None, TimeoutError()), "connection timed out"),
        (
            DatabaseConnectError(None, None, DriverError("the database system is starting up", "57P03")),
            "the database system is starting up",
        ),
        (
            DBAPIError("SELECT 1", None, DriverError("connection is closed", None), connection_invalidated=True),
            "connection lost (connection is closed)",
        ),
        (
            DBAPIError("SELECT 1", None, DriverError("terminating connection due to administrator command", "57P01")),
            "connection lost (terminating connection due to administrator command)",
        ),
        (
            psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
            "terminating connection due to administrator command",
        ),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "10.1.2.3", port 5432 failed: Connection refused\n'
                "\tIs the server running on that host and accepting TCP/IP connections?"
            ),
            "connection refused",
        ),
        (
            psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
            "server closed the connection unexpectedly",
        ),
        (
            PoolTimeout("couldn't get a connection after 30.00 sec"),
            "no connection could be made in time (couldn't get a connection after 30.00 sec)",
        ),
        (
            QueuePoolTimeout("QueuePool limit of size 10 overflow 20 reached, connection timed out, timeout 30.00"),
            "no pooled connection became free in time "
            "(QueuePool limit of size 10 overflow 20 reached, connection timed out, timeout 30.00)",
        ),
    ],
)
def test_outage_errors_become_503_naming_the_cause(error: BaseException, detail: str) -> None:
    outage = unavailable(error)

    assert outage is not None
    assert outage.status_code == 503
    assert outage.detail == f"Database unavailable: {detail}"


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT ...", None, DriverError("duplicate key value violates unique constraint", "23505")),
        DBAPIError("SELECT 1", None, DriverError("canceling statement due to statement timeout", "57014")),
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        psycopg.errors.UniqueViolation("duplicate key value violates unique constraint"),
        psycopg.errors.UndefinedTable('relation "store" does not exist'),
        ConnectionRefusedError(111, "a graph's own HTTP call was refused"),  # not raised while opening a connection
        ValueError("not a database error"),
    ],
)
def test_other_errors_are_not_an_outage(error: BaseException) -> None:
    assert unavailable(error) is None


def test_an_outage_wrapped_by_a_library_is_still_found() -> None:
    try:
        try:
            raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")
        except psycopg.Error as exc:
            raise RuntimeError("checkpoint write failed") from exc
    except RuntimeError as wrapped:
        outage = unavailable(wrapped)

    assert outage is not None
    assert "administrator command" in outage.detail


def test_the_cause_hides_the_server_address() -> None:
    error = psycopg.OperationalError(
        'connection is bad: connection to server on socket "/srv/pg/.s.PGSQL.5432" failed: No such file or directory'
    )

    outage = unavailable(error)

    assert outage is not None
    assert outage.detail == "Database unavailable: connection refused"


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (
            ConnectionResetError(104, "Connection reset by peer"),
            "Database unavailable: connection lost (connection reset by peer)",
        ),
        (
            asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
            "Database unavailable: connection lost (connection was closed in the middle of operation)",
        ),
        (
            asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
            "Database unavailable: connection lost (terminating connection due to administrator command)",
        ),
    ],
)
def test_a_raw_driver_call_losing_its_connection_is_an_outage(error: BaseException, detail: str) -> None:
    wrapped = driver_error(error)
    assert wrapped.connection_invalidated
    assert wrapped.orig is error
    outage = unavailable(wrapped)
    assert outage is not None and outage.detail == detail


def test_a_raw_driver_call_refusing_a_value_is_the_clients_error() -> None:
    error = asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax for type json")
    wrapped = driver_error(error)
    assert not wrapped.connection_invalidated
    assert unavailable(wrapped) is None
    assert client_data_error(wrapped) == "invalid input syntax for type json"
