"""Wire formats shared by every resource."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from sqlalchemy import inspect
from sqlalchemy.orm import Mapper

from aegra.errors import UnprocessableError

S = TypeVar("S", bound=msgspec.Struct)


def iso(value: datetime) -> str:
    """Timestamps as langgraph-api writes them: `+00:00`, microseconds when non-zero."""
    return value.astimezone(UTC).isoformat()


def project(item: S, select_fields: Sequence[str] | None) -> S | dict[str, Any]:
    """Only the `select`ed fields of a response object (the whole object when nothing is selected)."""
    if not select_fields:
        return item
    full = msgspec.structs.asdict(item)
    unknown = [name for name in select_fields if name not in full]
    if unknown:
        raise UnprocessableError(f"Invalid select field(s) {unknown}: expected {list(full)}")
    return {name: full[name] for name in select_fields}


@functools.cache
def _columns(model: type[Any]) -> tuple[tuple[str, str], ...]:
    """(attribute, database column name) of each column of an ORM model."""
    mapper: Mapper[Any] = inspect(model)
    return tuple((attr.key, str(attr.columns[0].name)) for attr in mapper.column_attrs)


def to_schema(row: object, schema_type: type[S], **overrides: Any) -> S:
    """A row as its response Struct (`msgspec.convert`, which validates it): columns by their database names
    (`metadata`, not the attribute `metadata_`), timestamps as `iso`; `overrides` replace or add fields."""
    values = {}
    model: type[Any] = type(row)
    for key, name in _columns(model):  # type: ignore[arg-type]  # classes are hashable; mypy misreads type.__hash__
        value = getattr(row, key)
        values[name] = iso(value) if isinstance(value, datetime) else value
    return msgspec.convert(values | overrides, type=schema_type)
