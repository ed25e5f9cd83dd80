"""The two connection pools on one database: SQLAlchemy/asyncpg for metadata, psycopg for LangGraph."""

from __future__ import annotations

import math
from typing import Any, Final

import orjson
import psycopg
import structlog
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import TTLConfig
from langgraph.store.postgres.base import PostgresIndexConfig
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from aegra.db import migrate
from aegra.db.availability import discard_closed_connection, heard_from_server, report_connect_failures
from aegra.db.budget import warn_if_over_budget
from aegra.db.queueing_pool import QueueingConnectionPool
from aegra.db.repositories.assistants import AssistantRowCache
from aegra.db.repositories.base import AUTOCOMMIT
from aegra.db.url import asyncpg_url, psycopg_conninfo
from aegra.serde import checkpoint_serializer
from aegra.settings import Settings
from aegra.store.pgvector import probe_pgvector
from aegra.store.postgres import AegraPostgresStore

logger = structlog.get_logger(__name__)

# The LangGraph pool retries a lost connection with a doubling delay; after this long it starts over at one second
# (see `_keep_reconnecting`), so it notices a database that came back within a few seconds, however long it was down.
LANGGRAPH_RECONNECT_SECONDS: Final = 10.0
# How long a statement waits for a pooled metadata connection while all of them are in use: thousands of runs in
# one process share a few dozen connections, and a run must queue for one, not fail (connecting keeps its timeout).
METADATA_POOL_WAIT_SECONDS: Final = 300.0
# libpq's smallest meaningful connect_timeout.
LIBPQ_MIN_CONNECT_TIMEOUT: Final = 2


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
        self.settings = settings
        timeout = settings.db_connect_timeout_seconds
        self.libpq_connect_timeout = max(LIBPQ_MIN_CONNECT_TIMEOUT, math.ceil(timeout))
        self.pre_ping = settings.db_pool_pre_ping
        # One cap, opened on demand and kept open: an overflow connection would be closed at check-in and
        # reopened by the next burst (a PostgreSQL backend forked, and ~1 ms of client CPU, each time).
        self.engine = _engine(
            url,
            settings.db_pool_size + settings.db_max_overflow,
            0,
            self.pre_ping,
            pool_timeout=max(timeout, METADATA_POOL_WAIT_SECONDS),
            connect_timeout=timeout,
        )
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool for single statements that are atomic on their own: no BEGIN/COMMIT, no ORM session.
        self.autocommit_engine: AsyncEngine = self.engine.execution_options(**AUTOCOMMIT)
        # The worker pool's claims and lease heartbeats, on connections of their own: thousands of runs queueing for
        # the metadata pool must not delay a heartbeat past its lease.
        self.control_engine = _engine(url, 2, 0, self.pre_ping, pool_timeout=timeout, connect_timeout=timeout)
        self.control_sessionmaker = async_sessionmaker(self.control_engine, expire_on_commit=False)
        for engine in (self.engine, self.control_engine):
            event.listen(engine.sync_engine, "do_connect", report_connect_failures)
            if not self.pre_ping:  # a pre-ping finds closed connections too, at the cost of a round trip
                event.listen(engine.sync_engine, "checkout", discard_closed_connection)
        self.lg_pool: AsyncConnectionPool[Any] = QueueingConnectionPool(
            psycopg_conninfo(url),
            min_size=1,
            max_size=settings.langgraph_pool_max_size,
            open=False,
            timeout=timeout,
            check=self._check_langgraph_connection,
            reconnect_timeout=LANGGRAPH_RECONNECT_SECONDS,
            reconnect_failed=_keep_reconnecting,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0,
                "row_factory": dict_row,
                "connect_timeout": self.libpq_connect_timeout,
            },
        )
        self.assistant_rows = AssistantRowCache()  # for run creation, which checks a copy is current
        self.checkpoint_serde = checkpoint_serializer()  # strict: revives only allow-listed types
        self.store_ttl = store_ttl
        self.store = AegraPostgresStore(self.lg_pool, index=store_index, ttl=store_ttl)
        self.run_migrations = settings.run_migrations
        # Why semantic search is off although `store.index` asks for it (None: it is on, or not asked for).
        self.semantic_search_off_reason: str | None = None

    @property
    def checkpointer(self) -> AsyncPostgresSaver:
        """A checkpointer on the shared pool, new per use: a saver serializes all of its calls behind one lock,
        so a shared one would make every run in the process wait for the others' checkpoint reads and writes."""
        return AsyncPostgresSaver(self.lg_pool, serde=self.checkpoint_serde)

    async def open(self) -> None:
        """Open the pools and bring every schema up to date (under the migration lock)."""
        if self.semantic_search:
            await self._check_vector_support()
        await self.lg_pool.open(wait=True)
        async with self.lg_pool.connection() as conn:
            await warn_if_over_budget(conn, self.settings)
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
        self.store = AegraPostgresStore(self.lg_pool, ttl=self.store_ttl)

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
        await self.control_engine.dispose()

    async def ping(self) -> None:
        """Raise if the database does not answer through either pool."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        async with self.lg_pool.connection() as lg_conn:
            await lg_conn.execute("SELECT 1")

    async def listen_connection(self) -> psycopg.AsyncConnection[Any]:
        """A connection of its own (not pooled) for LISTEN, opened with the pools' connect timeout."""
        return await psycopg.AsyncConnection.connect(
            psycopg_conninfo(self.url), autocommit=True, connect_timeout=self.libpq_connect_timeout
        )

    async def _check_langgraph_connection(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Before the pool lends a connection: replace one that died with a database restart instead of failing a
        checkpoint write. Without pre-ping, only a connection with something to read (a server's goodbye) gets the
        round trip. The first dead one means the other idle ones died too: check them all now, rather than one per
        request with the pool's backoff between them."""
        if not self.pre_ping and not heard_from_server(conn):
            return
        try:
            await AsyncConnectionPool.check_connection(conn)
        except psycopg.Error:
            await self.lg_pool.check()
            raise


async def _keep_reconnecting(pool: AsyncConnectionPool[Any]) -> None:
    """The pool gave up reconnecting after LANGGRAPH_RECONNECT_SECONDS: start again (`check` grows an empty pool)."""
    logger.warning("database still unreachable; the LangGraph pool keeps trying", pool=pool.name)
    await pool.check()


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _engine(
    url: str, pool_size: int, max_overflow: int, pre_ping: bool, *, pool_timeout: float, connect_timeout: float
) -> AsyncEngine:
    """A SQLAlchemy/asyncpg engine on the database, JSON through orjson."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pre_ping,
        pool_timeout=pool_timeout,
        connect_args={"timeout": connect_timeout},
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )
