"""The two connection pools on one database: SQLAlchemy/asyncpg for metadata, psycopg for LangGraph."""

from __future__ import annotations

from typing import Any

import structlog
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aegra.db import migrate
from aegra.db.url import asyncpg_url, psycopg_conninfo
from aegra.settings import Settings

logger = structlog.get_logger(__name__)


class Database:
    """Owns the metadata engine, the LangGraph pool, the checkpointer and the store for one process."""

    def __init__(self, url: str, settings: Settings, *, store_index: dict[str, Any] | None = None) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            asyncpg_url(url),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_pre_ping=False,
            json_serializer=_json_dumps,
        )
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        self.lg_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            psycopg_conninfo(url),
            min_size=1,
            max_size=settings.langgraph_pool_max_size,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        self.checkpointer = AsyncPostgresSaver(self.lg_pool)  # type: ignore[arg-type]
        self.store = AsyncPostgresStore(self.lg_pool, index=store_index)  # type: ignore[arg-type]
        self.run_migrations = settings.run_migrations

    async def open(self) -> None:
        """Open the pools and bring every schema up to date (under the migration lock)."""
        await self.lg_pool.open(wait=True)
        if not self.run_migrations:
            return
        async with migrate.migration_lock(self.engine):
            await migrate.upgrade(self.engine)
            await self.checkpointer.setup()
            await self.store.setup()

    async def close(self) -> None:
        await self.lg_pool.close()
        await self.engine.dispose()

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def _json_dumps(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
