"""A copy of a thread's checkpoints under a new thread id. The tables belong to langgraph-checkpoint-postgres,
whose saver has no copy of its own (`acopy_thread` is not implemented there), so the rows are copied in SQL."""

from __future__ import annotations

from typing import Any, Final

from psycopg_pool import AsyncConnectionPool

COPY_CHECKPOINTS_SQL: Final = """
INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
SELECT %(target)s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
       CASE WHEN metadata ? 'thread_id' THEN jsonb_set(metadata, '{thread_id}', to_jsonb(%(target)s::text))
            ELSE metadata END
FROM checkpoints WHERE thread_id = %(source)s
ON CONFLICT DO NOTHING
"""
COPY_BLOBS_SQL: Final = """
INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
SELECT %(target)s, checkpoint_ns, channel, version, type, blob
FROM checkpoint_blobs WHERE thread_id = %(source)s
ON CONFLICT DO NOTHING
"""
COPY_WRITES_SQL: Final = """
INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
SELECT %(target)s, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob
FROM checkpoint_writes WHERE thread_id = %(source)s
ON CONFLICT DO NOTHING
"""


async def copy_thread_checkpoints(pool: AsyncConnectionPool[Any], source: str, target: str) -> None:
    """Duplicate every checkpoint, blob and pending write of thread `source` as thread `target`'s (one
    transaction)."""
    params = {"source": source, "target": target}
    async with pool.connection() as conn, conn.transaction():
        for sql in (COPY_CHECKPOINTS_SQL, COPY_BLOBS_SQL, COPY_WRITES_SQL):
            await conn.execute(sql, params)
