"""The two connection pools on one database: SQLAlchemy/asyncpg for metadata, psycopg for LangGraph."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
import structlog
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import TTLConfig
from langgraph.store.postgres.base import PostgresIndexConfig
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aegra.db import migrate
from aegra.db.url import asyncpg_url, psycopg_conninfo
from aegra.serde import checkpoint_serializer
from aegra.settings import Settings
from aegra.store.pgvector import probe_pgvector
from aegra.store.postgres import AegraPostgresStore

logger = structlog.get_logger(__name__)


class Database:
    """Owns the metadata engine, the LangGraph pool, the checkpointer and the store for one process."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        *,
        store_index: PostgresIndexConfig | None = None,
        store_ttl: TTLConfig | None = None,
    ) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            asyncpg_url(url),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_pre_ping=False,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        self.lg_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            psycopg_conninfo(url),
            min_size=1,
            max_size=settings.langgraph_pool_max_size,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        self.checkpoint_serde = checkpoint_serializer()  # strict: revives only allow-listed types
        self.store_ttl = store_ttl
        self.store = AegraPostgresStore(self.lg_pool, index=store_index, ttl=store_ttl)  # type: ignore[arg-type]
        self.run_migrations = settings.run_migrations
        # Why semantic search is off although `store.index` asks for it (None: it is on, or not asked for).
        self.semantic_search_off_reason: str | None = None

    @property
    def checkpointer(self) -> AsyncPostgresSaver:
        """A checkpointer on the shared pool, new per use: a saver serializes all of its calls behind one lock,
        so a shared one would make every run in the process wait for the others' checkpoint reads and writes."""
        return AsyncPostgresSaver(self.lg_pool, serde=self.checkpoint_serde)  # type: ignore[arg-type]

    async def open(self) -> None:
        """Open the pools and bring every schema up to date (under the migration lock)."""
        if self.semantic_search:
            await self._check_vector_support()
        await self.lg_pool.open(wait=True)
        if not self.run_migrations:
            return
        async with migrate.migration_lock(self.engine):
            await migrate.upgrade(self.engine)
            await self.checkpointer.setup()
            await self._setup_store()

    @property
    def semantic_search(self) -> bool:
        """Whether the store embeds items and answers `query` by similarity (pgvector + `store.index`)."""
        return self.store.index_config is not None

    async def _check_vector_support(self) -> None:
        """Probe pgvector before any pool opens (a crashing extension restarts the whole server)."""
        support = await probe_pgvector(psycopg_conninfo(self.url))
        if support.usable:
            return
        self._semantic_search_off(support.reason or "pgvector is unusable")

    def _semantic_search_off(self, reason: str) -> None:
        logger.warning(
            "semantic search is off: store.index is set but pgvector cannot be used; "
            "`query` searches fall back to filter/namespace order",
            reason=reason,
        )
        self.semantic_search_off_reason = reason
        self.store = AegraPostgresStore(self.lg_pool, ttl=self.store_ttl)  # type: ignore[arg-type]

    async def _setup_store(self) -> None:
        """Create the store tables; without pgvector, keep serving with semantic search off."""
        if not self.semantic_search:
            await self.store.setup()
            return
        try:
            await self.store.setup()
        except psycopg.Error as exc:
            self._semantic_search_off(f"the store's vector tables cannot be set up ({str(exc).strip()})")
            await self.store.setup()

    async def close(self) -> None:
        await self.lg_pool.close()
        await self.engine.dispose()

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
