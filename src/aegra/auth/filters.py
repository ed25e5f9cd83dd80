"""Authorization filters returned by `@auth.on` handlers: `{"owner": "u1"}`, `{"k": {"$eq": v}}`,
`{"tags": {"$contains": "a"}}` or `{"tags": {"$contains": ["a", "b"]}}`; all keys must match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, true

from aegra.errors import ConfigError

Filters = Mapping[str, Any]


def _operator(key: str, condition: Any) -> tuple[str, Any]:
    if not isinstance(condition, Mapping):
        return "$eq", condition
    if len(condition) != 1:
        raise ConfigError(f"Auth filter for {key!r} must have exactly one operator ($eq or $contains).")
    operator, operand = next(iter(condition.items()))
    if operator not in ("$eq", "$contains"):
        raise ConfigError(f"Auth filter for {key!r} uses unsupported operator {operator!r}.")
    return operator, operand


def matches(metadata: Mapping[str, Any], filters: Filters | None) -> bool:
    """Whether a resource's metadata satisfies every filter."""
    if not filters:
        return True
    for key, condition in filters.items():
        operator, operand = _operator(key, condition)
        actual = metadata.get(key)
        if operator == "$eq" and actual != operand:
            return False
        if operator == "$contains":
            if not isinstance(actual, list):
                return False
            wanted = operand if isinstance(operand, list) else [operand]
            if not all(item in actual for item in wanted):
                return False
    return True


def metadata_clause(column: Any, filters: Filters | None) -> ColumnElement[bool]:
    """The same test as `matches`, as a JSONB containment clause on `column` (GIN-indexable)."""
    if not filters:
        return true()
    clauses = []
    for key, condition in filters.items():
        operator, operand = _operator(key, condition)
        if operator == "$eq":
            clauses.append(column.contains({key: operand}))
        else:
            clauses.append(column.contains({key: operand if isinstance(operand, list) else [operand]}))
    return and_(*clauses)
