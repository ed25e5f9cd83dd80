"""Search pages (Advanced Alchemy's `OffsetPagination`) and the `X-Pagination-*` headers the SDK reads off them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from advanced_alchemy.service import OffsetPagination

R = TypeVar("R")
T = TypeVar("T")


def convert_page(page: OffsetPagination[R], convert: Callable[[R], T]) -> OffsetPagination[T]:
    """The same page with every item converted (rows to response objects)."""
    items = [convert(item) for item in page.items]
    return OffsetPagination(items, limit=page.limit, offset=page.offset, total=page.total)


def pagination_headers(page: OffsetPagination[Any]) -> dict[str, str]:
    """`X-Pagination-Total` always; `X-Pagination-Next` only when more rows remain."""
    headers = {"X-Pagination-Total": str(page.total)}
    next_offset = page.offset + len(page.items)
    if next_offset < page.total:
        headers["X-Pagination-Next"] = str(next_offset)
    return headers
