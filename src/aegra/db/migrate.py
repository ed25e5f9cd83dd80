"""Schema migrations: Alembic for Aegra's tables, LangGraph's own `setup()` for checkpoints and the store.

Everything runs under one PostgreSQL advisory lock, so several processes starting at once are safe. Alembic is
imported only when there is something to migrate: a start on a current schema reads one row and moves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from aegra.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

logger = structlog.get_logger(__name__)

# Arbitrary constant shared by every Aegra process: "aegra" in ASCII.
MIGRATION_LOCK_KEY = 0x6165677261
LOCK_POLL_SECONDS = 0.1
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
# Alembic's version table (its default name, on the search path): absent before the first migration.
_HAS_VERSION_TABLE = text("SELECT to_regclass('alembic_version') IS NOT NULL")
_CURRENT_REVISION = text("SELECT version_num FROM alembic_version")
# The newest script in migrations/versions. tests/unit/test_migration_head.py fails until a new script's revision
# is written here, so a start can tell "nothing to migrate" without importing Alembic.
HEAD_REVISION = "0005_claim_indexes"


def migrations_dir() -> Path:
    """Where the Alembic scripts live: inside the wheel, or at the top of a source checkout."""
    packaged = Path(__file__).resolve().parent.parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at Aegra's scripts, bound to `connection` (env.py needs one to run)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


@asynccontextmanager
async def migration_lock(
    engine: AsyncEngine, *, poll_interval: float = LOCK_POLL_SECONDS, on_busy: Callable[[], object] | None = None
) -> AsyncIterator[None]:
    """Hold the database-wide migration advisory lock for the duration of the block.

    A waiter must not sit in a blocking `pg_advisory_lock()`: that statement holds a snapshot, and LangGraph's
    setup runs `CREATE INDEX CONCURRENTLY`, which waits for every older snapshot, so the holder would wait for the
    waiter forever. Waiters poll `pg_try_advisory_lock()` in autocommit mode instead, holding nothing in between.
    `on_busy` is called once when another process holds the lock.
    """
    async with engine.connect() as connection:
        lock_conn = await connection.execution_options(isolation_level="AUTOCOMMIT")
        busy_reported = False
        while not (await lock_conn.execute(_TRY_LOCK, {"key": MIGRATION_LOCK_KEY})).scalar_one():
            if not busy_reported:
                busy_reported = True
                logger.info("waiting for another process to finish migrating")
                if on_busy is not None:
                    on_busy()
            await asyncio.sleep(poll_interval)
        try:
            yield
        finally:
            await lock_conn.execute(_UNLOCK, {"key": MIGRATION_LOCK_KEY})


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply Alembic migrations up to `revision` (callers hold `migration_lock`); at the head already, nothing."""
    if revision == "head" and await current_revision(engine) == HEAD_REVISION:
        return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
    logger.debug("migrations applied", revision=revision)


def head_revision() -> str | None:
    """The newest revision among the migration scripts, as Alembic reads them (`HEAD_REVISION` must agree)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    async with engine.connect() as conn:
        if not (await conn.execute(_HAS_VERSION_TABLE)).scalar_one():
            return None
        revision = (await conn.execute(_CURRENT_REVISION)).scalar_one_or_none()
    return str(revision) if revision is not None else None


async def require_current(engine: AsyncEngine) -> None:
    """Raise ConfigError naming the fix when the database is not at the newest revision (a process that does not
    migrate, such as `aegra worker`, must not run against a schema it does not know)."""
    current, head = await current_revision(engine), HEAD_REVISION
    if current == head:
        return
    at = "has no Aegra tables" if current is None else f"is at revision {current}"
    raise ConfigError(
        f"the database {at}, not {head}: it is not migrated. Run `aegra migrate upgrade` (or start `aegra serve` "
        "with AEGRA_RUN_MIGRATIONS=true) first"
    )
