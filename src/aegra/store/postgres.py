"""The one store object of a process: LangGraph's `AsyncPostgresStore` with JSON-typed range filters.

The same instance serves `/store/*` and is handed to graphs at run time, so both sides see the same items.
"""

from __future__ import annotations

from typing import Any

import orjson
from langgraph.store.postgres.aio import AsyncPostgresStore

from aegra.errors import ConfigError

# For a pgvector `vector(n)`/`halfvec(n)` column, pg_attribute.atttypmod holds n.
STORED_DIMS_SQL = """
SELECT atttypmod AS dims FROM pg_attribute
WHERE attrelid = to_regclass('store_vectors') AND attname = 'embedding' AND NOT attisdropped
"""

RANGE_OPERATORS: dict[str, str] = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


class AegraPostgresStore(AsyncPostgresStore):
    """`AsyncPostgresStore` whose `$gt/$gte/$lt/$lte` compare JSON values, not their text.

    Upstream compares `value->>field` as text, so `{"n": {"$gt": 9}}` misses `n = 10`; comparing `jsonb` orders
    numbers numerically and strings lexically, as LangGraph's in-memory store (and langgraph-api) do.
    """

    async def setup(self) -> None:
        """Create or migrate the store tables; refuse an index whose `dims` differ from the stored vectors."""
        await super().setup()
        if self.index_config is None:
            return
        async with self._cursor() as cur:
            await cur.execute(STORED_DIMS_SQL)
            row = await cur.fetchone()
        stored = row["dims"] if row is not None else None
        wanted = self.index_config["dims"]
        if stored is not None and stored > 0 and stored != wanted:
            raise ConfigError(
                f"store.index.dims is {wanted} but this database already holds {stored}-dimension embeddings "
                "(table store_vectors). Keep the old dims, or drop store_vectors and vector_migrations to re-embed "
                "items on their next write."
            )

    def _get_filter_condition(self, key: str, op: str, value: Any) -> tuple[str, list]:
        sql_operator = RANGE_OPERATORS.get(op)
        if sql_operator is None:
            return super()._get_filter_condition(key, op, value)
        return f"value->%s {sql_operator} %s::jsonb", [key, orjson.dumps(value).decode()]
