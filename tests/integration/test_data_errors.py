"""The database's refusals of a value (SQLSTATE class 22) are recognised as the client's fault, on both drivers;
connection trouble is not."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from aegra.api.inputs import client_data_error
from aegra.db.url import asyncpg_url, psycopg_conninfo


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(asyncpg_url(database_url))
    yield engine
    await engine.dispose()


@pytest.mark.parametrize(
    ("statement", "value"),
    [
        ("SELECT CAST(:value AS jsonb)", '{"text": "\\u0000"}'),
        ("SELECT CAST(:value AS integer)", "99999999999"),
        ("SELECT CAST(:value AS timestamptz)", "yesterday-ish"),
    ],
)
async def test_asyncpg_data_exceptions_are_client_errors(engine: AsyncEngine, statement: str, value: str) -> None:
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            await conn.execute(text(statement), {"value": value})

    message = client_data_error(caught.value)

    assert message is not None
    assert "SELECT" not in message  # the database's words about the value, not the statement


async def test_psycopg_refusing_nul_is_a_client_error(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(psycopg_conninfo(database_url)) as conn:
        with pytest.raises(psycopg.DataError) as caught:
            await conn.execute("SELECT %s::text", ["a\x00b"])

    assert "NUL" in (client_data_error(caught.value) or "")


async def test_an_unreachable_database_is_not_a_client_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres")
    try:
        with pytest.raises((DBAPIError, OSError)) as caught:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()

    assert client_data_error(caught.value) is None


async def test_an_integer_the_driver_cannot_encode_is_a_client_error(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            await conn.execute(text("SELECT CAST(:value AS bigint)"), {"value": 2**70})

    assert client_data_error(caught.value) == "value out of int64 range"
