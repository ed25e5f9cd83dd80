"""The LangGraph pool's connection wait: with thousands of runs in one process and a few dozen connections, a
checkpoint write may wait longer than the pool's timeout only because the others are busy. Such a wait goes on
(runs queue for a connection, they never fail for one); it times out only when no connection came back working
while it waited, i.e. the database is gone."""

from __future__ import annotations

import time
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout


class QueueingConnectionPool(AsyncConnectionPool[AsyncConnection[Any]]):
    """An `AsyncConnectionPool` whose clients keep waiting while its connections are in use and working."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._working_at = time.monotonic()  # when a connection last came back working

    async def getconn(self, timeout: float | None = None) -> AsyncConnection[Any]:  # noqa: ASYNC109 (the base signature)
        while True:
            asked = time.monotonic()
            try:
                return await super().getconn(timeout)
            except PoolTimeout:
                if self._working_at < asked:  # nothing came back working meanwhile: not busy, unreachable
                    raise

    async def putconn(self, conn: AsyncConnection[Any]) -> None:
        if not conn.closed and not conn.broken:
            self._working_at = time.monotonic()
        await super().putconn(conn)
