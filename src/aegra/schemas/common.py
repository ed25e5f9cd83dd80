"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Longest TTL a thread or store item may be given: 100 years (a timestamp that far out still fits PostgreSQL's).
MAX_TTL_MINUTES = 100 * 365 * 24 * 60

Limit = Annotated[int, msgspec.Meta(ge=1, le=1000, description="Page size (1-1000).")]
Offset = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX, description="Rows to skip (0 to 2^63-1).")]
SortOrder = Literal["asc", "desc"]
JsonObject = dict[str, Any]


class Page(msgspec.Struct, kw_only=True):
    """How a search pages and orders what it finds (each resource adds its `sort_by` and `select` fields)."""

    limit: Limit = 10
    offset: Offset = 0
    sort_order: SortOrder | None = None


class ErrorResponse(msgspec.Struct, kw_only=True):
    """Every error reaches clients in this shape."""

    detail: str
