"""What every Aegra repository shares: Advanced Alchemy's repository, working inside the caller's transaction."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Final, TypeAlias, cast

from advanced_alchemy.filters import LimitOffset, OrderBy, StatementFilter
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.repository.typing import ModelT
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import ColumnElement, CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession

Filter = StatementFilter | ColumnElement[bool]
FRESH: Final = {"populate_existing": True}  # execution options: read rows as stored now, not the session's copies
AnyResult: TypeAlias = Result[*tuple[Any, ...]]
AUTOCOMMIT: Final = {"isolation_level": "AUTOCOMMIT"}


@contextlib.asynccontextmanager
async def autocommit(session: AsyncSession) -> AsyncIterator[None]:
    """For a block of one statement (atomic on its own): when the session has no transaction open, the statement
    runs outside one (no BEGIN and COMMIT round trips) and the session is done with its connection after the block;
    inside an open transaction it simply joins it."""
    if session.in_transaction():
        yield
        return
    await session.connection(execution_options=AUTOCOMMIT)
    try:
        yield
    except BaseException:
        await session.rollback()
        raise
    await session.commit()  # nothing to commit: hands the connection back (its isolation level reset)


def affected_rows(result: AnyResult) -> int:
    """How many rows an UPDATE or DELETE touched (its result is a `CursorResult`; `execute` is typed `Result`)."""
    return cast("CursorResult[*tuple[Any, ...]]", result).rowcount


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

    async def page(
        self, *filters: Filter, sort_by: str, sort_order: str | None, limit: int, offset: int
    ) -> OffsetPagination[ModelT]:
        """One page of matches in `sort_by` order (descending unless `sort_order` is "asc"; ties broken by id), with
        how many match in all: counted with the page (a window function), or on its own when the page is empty (an
        offset past the last match)."""
        order = (OrderBy(sort_by, "asc" if sort_order == "asc" else "desc"), OrderBy(self.id_attribute, "asc"))
        rows, total = await self.get_many_and_count(*filters, *order, LimitOffset(limit=limit, offset=offset))
        if not rows and offset:
            total = await self.count(*filters)
        return OffsetPagination(rows, limit=limit, offset=offset, total=total)
