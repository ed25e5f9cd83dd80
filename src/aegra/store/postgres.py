"""The one store object of a process: LangGraph's `AsyncPostgresStore` with JSON-typed range filters.

The same instance serves `/store/*` and is handed to graphs at run time, so both sides see the same items.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from aegra.adapters.langgraph_store import JsonRangeFilterStore
from aegra.errors import ConfigError

# For a pgvector `vector(n)`/`halfvec(n)` column, pg_attribute.atttypmod holds n.
STORED_DIMS_SQL = """
SELECT atttypmod AS dims FROM pg_attribute
WHERE attrelid = to_regclass('store_vectors') AND attname = 'embedding' AND NOT attisdropped
"""


async def stored_dims(conn: AsyncConnection[Any] | AsyncConnectionPool[Any]) -> int | None:
    """The dimension of the embeddings already stored (None before the vector table exists)."""
    if isinstance(conn, AsyncConnectionPool):
        async with conn.connection() as pooled:
            return await stored_dims(pooled)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(STORED_DIMS_SQL)
        row = await cur.fetchone()
    return int(row["dims"]) if row is not None else None


class AegraPostgresStore(JsonRangeFilterStore):
    """The store (range filters compare JSON values, see the adapter) that checks its index config at setup."""

    async def setup(self) -> None:
        """Create or migrate the store tables; refuse an index whose `dims` differ from the stored vectors."""
        await super().setup()
        if self.index_config is None:
            return
        stored = await stored_dims(self.conn)
        wanted = self.index_config["dims"]
        if stored is not None and stored > 0 and stored != wanted:
            raise ConfigError(
                f"store.index.dims is {wanted} but this database already holds {stored}-dimension embeddings "
                "(table store_vectors). Keep the old dims, or drop store_vectors and vector_migrations to re-embed "
                "items on their next write."
            )
