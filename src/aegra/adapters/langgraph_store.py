"""`langgraph-checkpoint-postgres`'s store: JSON-typed range filters through its private filter hook.

Upstream's `_get_filter_condition` compares `value->>field` as text, so `{"n": {"$gt": 9}}` misses `n = 10`; the
store offers no public way to change how a filter becomes SQL, so this subclass overrides that one hook.
"""

from __future__ import annotations

from typing import Any

import orjson
from langgraph.store.postgres.aio import AsyncPostgresStore

RANGE_OPERATORS: dict[str, str] = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def json_range_condition(key: str, op: str, value: Any) -> tuple[str, list[Any]] | None:
    """SQL comparing the item's `key` with `value` as `jsonb` (numbers numerically, strings lexically, as
    LangGraph's in-memory store and langgraph-api do); None for an operator that is not a range."""
    sql_operator = RANGE_OPERATORS.get(op)
    if sql_operator is None:
        return None
    return f"value->%s {sql_operator} %s::jsonb", [key, orjson.dumps(value).decode()]


class JsonRangeFilterStore(AsyncPostgresStore):
    """`AsyncPostgresStore` whose `$gt/$gte/$lt/$lte` compare JSON values, not their text."""

    def _get_filter_condition(self, key: str, op: str, value: Any) -> tuple[str, list[Any]]:
        condition = json_range_condition(key, op, value)
        if condition is None:
            return super()._get_filter_condition(key, op, value)
        return condition
