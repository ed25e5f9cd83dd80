"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Limit = Annotated[int, msgspec.Meta(ge=1, le=1000, description="Page size (1-1000).")]
Offset = Annotated[int, msgspec.Meta(ge=0, description="Rows to skip.")]
SortOrder = Literal["asc", "desc"]
JsonObject = dict[str, Any]


class ErrorResponse(msgspec.Struct, kw_only=True):
    """Every error reaches clients in this shape."""

    detail: str
