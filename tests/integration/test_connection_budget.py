"""At startup a process reads the real server's connection limit and warns when its pools could exceed it."""

from __future__ import annotations

import psycopg
from structlog.testing import capture_logs

from aegra.db.budget import warn_if_over_budget
from aegra.db.url import psycopg_conninfo
from aegra.settings import Settings


async def _warnings(database_url: str, settings: Settings) -> list[dict[str, object]]:
    async with await psycopg.AsyncConnection.connect(psycopg_conninfo(database_url)) as conn:
        with capture_logs() as logs:
            await warn_if_over_budget(conn, settings)
    return [entry for entry in logs if entry["log_level"] == "warning"]


async def test_pools_larger_than_the_server_allows_are_reported(database_url: str) -> None:
    settings = Settings.from_env({"LANGGRAPH_MAX_POOL_SIZE": "100000"})

    warnings = await _warnings(database_url, settings)

    assert len(warnings) == 1
    assert "may open 100033 connections" in str(warnings[0]["detail"])


async def test_small_pools_on_the_same_server_are_not_reported(database_url: str) -> None:
    settings = Settings.from_env(
        {"SQLALCHEMY_POOL_SIZE": "1", "SQLALCHEMY_MAX_OVERFLOW": "0", "LANGGRAPH_MAX_POOL_SIZE": "1"}
    )

    assert await _warnings(database_url, settings) == []
