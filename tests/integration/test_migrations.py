"""Migrations on a real PostgreSQL: safe when several processes start at once, and driven by `aegra migrate`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from aegra.db import migrate
from aegra.db.database import Database
from aegra.db.url import asyncpg_url, psycopg_conninfo
from aegra.settings import Settings
from tests.conftest import fresh_database

REPO_ROOT = Path(__file__).resolve().parents[2]
AEGRA_TABLES = {"assistants", "assistant_versions", "threads", "runs", "run_events", "crons", "alembic_version"}
LANGGRAPH_TABLES = {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations", "store"}


@pytest.fixture
def fresh_database_url(pg_server_url: str) -> Iterator[str]:
    """An empty database for one test (migrations must start from nothing)."""
    with fresh_database(pg_server_url, "migrations") as url:
        yield url


@pytest.fixture
async def engines(fresh_database_url: str) -> AsyncIterator[list[AsyncEngine]]:
    """Four engines on the same fresh database, as four server processes would have."""
    created = [create_async_engine(asyncpg_url(fresh_database_url)) for _ in range(4)]
    yield created
    for engine in created:
        await engine.dispose()


def _tables(url: str) -> set[str]:
    with psycopg.connect(psycopg_conninfo(url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


async def _upgrade_under_lock(engine: AsyncEngine) -> None:
    async with migrate.migration_lock(engine):
        await migrate.upgrade(engine)


async def test_concurrent_upgrades_from_several_engines_are_safe(engines: list[AsyncEngine]) -> None:
    await asyncio.gather(*(_upgrade_under_lock(engine) for engine in engines))

    revisions = [await migrate.current_revision(engine) for engine in engines]
    assert revisions == [migrate.head_revision()] * len(engines)


async def test_migration_lock_makes_a_second_process_wait(engines: list[AsyncEngine]) -> None:
    first, second = engines[0], engines[1]
    second_is_waiting = asyncio.Event()

    async def upgrade_second() -> None:
        async with migrate.migration_lock(second, poll_interval=0.01, on_busy=second_is_waiting.set):
            await migrate.upgrade(second)

    async with migrate.migration_lock(first):
        waiting = asyncio.create_task(upgrade_second())
        await second_is_waiting.wait()
        revision_while_locked = await migrate.current_revision(first)
        finished_while_locked = waiting.done()

    await waiting

    assert revision_while_locked is None
    assert not finished_while_locked
    assert await migrate.current_revision(first) == migrate.head_revision()


async def test_databases_opening_together_create_every_table(fresh_database_url: str) -> None:
    settings = Settings(database_url=fresh_database_url)
    databases = [Database(fresh_database_url, settings) for _ in range(3)]

    try:
        await asyncio.gather(*(database.open() for database in databases))
    finally:
        for database in databases:
            await database.close()

    tables = _tables(fresh_database_url)
    assert tables >= AEGRA_TABLES
    assert tables >= LANGGRAPH_TABLES


def _aegra(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("AEGRA_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "aegra", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=90
    )


def test_migrate_cli_upgrades_and_reports_the_revision(fresh_database_url: str, tmp_path: Path) -> None:
    upgraded = _aegra("migrate", "upgrade", database_url=fresh_database_url, cwd=tmp_path)
    current = _aegra("migrate", "current", database_url=fresh_database_url, cwd=tmp_path)

    assert upgraded.returncode == 0, upgraded.stderr
    assert current.returncode == 0, current.stderr
    head = migrate.head_revision()
    assert f"revision {head}" in upgraded.stdout
    assert current.stdout.strip() == f"{head} (head)"
    tables = _tables(fresh_database_url)
    assert tables >= AEGRA_TABLES
    assert tables >= LANGGRAPH_TABLES


def test_migrate_cli_reports_a_bad_database_url_without_a_traceback(tmp_path: Path) -> None:
    result = _aegra("migrate", "current", database_url="mysql://user:secret@db/aegra", cwd=tmp_path)

    assert result.returncode == 1
    assert "DATABASE_URL must start with postgresql://" in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr
