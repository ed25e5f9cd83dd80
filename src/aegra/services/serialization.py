"""Wire formats shared by every resource."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

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
