"""Search pages and the `X-Pagination-*` headers the SDK reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    offset: int

    def headers(self) -> dict[str, str]:
        """`X-Pagination-Total` always; `X-Pagination-Next` only when more rows remain."""
        headers = {"X-Pagination-Total": str(self.total)}
        next_offset = self.offset + len(self.items)
        if next_offset < self.total:
            headers["X-Pagination-Next"] = str(next_offset)
        return headers
