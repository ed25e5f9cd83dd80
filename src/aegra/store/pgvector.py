"""Whether pgvector can serve semantic search here, found out before any pool opens.

A pgvector built for instructions the CPU lacks kills its backend with SIGILL, and PostgreSQL then restarts every
connection of the cluster. So the extension is exercised once, on a connection of its own, before the pools open;
if that backend dies, the probe waits for the server to recover and reports pgvector unusable instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import psycopg
import structlog
from psycopg.rows import TupleRow

logger = structlog.get_logger(__name__)

RECOVERY_TIMEOUT_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 10

CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS vector"
# Everything semantic search leans on: the type, the cosine operator, and an HNSW index build and scan.
EXERCISE = (
    "CREATE TEMP TABLE aegra_vector_probe (id int, embedding vector(3)) ON COMMIT DROP",
    "INSERT INTO aegra_vector_probe VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.7,0.3,0]'), (4, '[0,0,1]')",
    "CREATE INDEX ON aegra_vector_probe USING hnsw (embedding vector_cosine_ops)",
    "SET LOCAL enable_seqscan = off",
)
NEAREST = "SELECT id FROM aegra_vector_probe ORDER BY embedding <=> '[1,0.05,0]'::vector LIMIT 2"
EXPECTED_NEAREST = [1, 3]


@dataclass(frozen=True, slots=True)
class VectorSupport:
    """The probe's verdict: `reason` says why semantic search is off when `usable` is false."""

    usable: bool
    reason: str | None = None


async def probe_pgvector(conninfo: str, *, recovery_timeout: float = RECOVERY_TIMEOUT_SECONDS) -> VectorSupport:
    """Create the `vector` extension if needed and run an HNSW build and a cosine query on a throwaway table."""
    # An unreachable server fails here, before anything else opens, exactly as the pools would.
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        async with conn:
            return await _exercise(conn)
    except psycopg.OperationalError as exc:
        # The backend died under us: let the cluster finish its crash recovery, so the pools open on a working
        # server, and keep going without semantic search.
        try:
            async with asyncio.timeout(recovery_timeout):
                await _wait_until_accepting(conninfo)
        except TimeoutError:
            logger.warning("database not accepting connections after the pgvector probe", seconds=recovery_timeout)
        return VectorSupport(False, f"the vector extension crashed the database connection ({_one_line(exc)})")


async def _exercise(conn: psycopg.AsyncConnection[TupleRow]) -> VectorSupport:
    try:
        await conn.execute(CREATE_EXTENSION)
    except psycopg.OperationalError:
        raise
    except psycopg.errors.UniqueViolation:
        pass  # another process created it at the same moment
    except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile, psycopg.errors.UndefinedObject) as exc:
        return VectorSupport(False, f"the vector extension is not installed on this server ({_one_line(exc)})")
    except psycopg.errors.InsufficientPrivilege as exc:
        return VectorSupport(False, f"this role may not create the vector extension ({_one_line(exc)})")
    except psycopg.DatabaseError as exc:
        return VectorSupport(False, f"the vector extension cannot be created ({_one_line(exc)})")
    try:
        async with conn.transaction(force_rollback=True):
            for statement in EXERCISE:
                await conn.execute(statement)
            rows = await (await conn.execute(NEAREST)).fetchall()
    except psycopg.OperationalError:
        raise
    except psycopg.DatabaseError as exc:
        return VectorSupport(False, f"the vector extension does not work here ({_one_line(exc)})")
    nearest = [row[0] for row in rows]
    if nearest != EXPECTED_NEAREST:
        return VectorSupport(False, f"the vector extension ranks wrongly here (nearest {nearest})")
    return VectorSupport(True)


async def _wait_until_accepting(conninfo: str) -> None:
    """Return once the server accepts connections again (its crash recovery is done)."""
    delay = 0.1
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS):
                return
        except psycopg.OperationalError:
            await asyncio.sleep(delay)  # a recovering server cannot tell us when it is back: poll it
            delay = min(delay * 2, 1.0)


def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
