"""What every Aegra repository shares: Advanced Alchemy's repository, working inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.filters import LimitOffset, StatementFilter
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.repository.typing import ModelT
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

Filter = StatementFilter | ColumnElement[bool]


class Repository(SQLAlchemyAsyncRepository[ModelT]):
    """Never commits (the service method or queue operation using it owns the transaction), never expunges
    (services change the rows they read and commit), and lets SQLAlchemy's errors through unwrapped (a database
    outage must stay recognisable as one)."""

    def __init__(self, session: AsyncSession, **options: Any) -> None:
        super().__init__(
            session=session,
            auto_commit=False,
            auto_expunge=False,
            auto_refresh=False,
            wrap_exceptions=False,
            **options,
        )

    async def page(self, *filters: Filter, limit: int, offset: int) -> tuple[list[ModelT], int]:
        """One page and the total number of matches: counted with the page (a window function), or on its own
        when the page is empty (an offset past the last match)."""
        rows, total = await self.get_many_and_count(*filters, LimitOffset(limit=limit, offset=offset))
        if not rows and offset:
            total = await self.count(*filters)
        return rows, total
