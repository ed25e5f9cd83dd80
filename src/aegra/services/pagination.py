"""The `X-Pagination-*` headers the SDK reads off a search page."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.service import OffsetPagination


def pagination_headers(page: OffsetPagination[Any]) -> dict[str, str]:
    """`X-Pagination-Total` always; `X-Pagination-Next` only when more rows remain."""
    headers = {"X-Pagination-Total": str(page.total)}
    next_offset = page.offset + len(page.items)
    if next_offset < page.total:
        headers["X-Pagination-Next"] = str(next_offset)
    return headers
