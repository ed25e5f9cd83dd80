"""`langgraph-checkpoint-postgres`: copy a thread's checkpoints, and drop the ones one run wrote, in its tables.

`BaseCheckpointSaver` declares `acopy_thread` and `adelete_for_runs`, but `AsyncPostgresSaver` implements neither
(it raises NotImplementedError), so these statements work on its tables directly; the contract test checks both
that the tables still have these columns and that upstream still lacks the methods (then use them instead).
Re-writing every checkpoint through `alist`/`aput` would re-serialize it (and need the graph's allowed types).
"""

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
DELETE_RUN_CHECKPOINT_WRITES_SQL: Final = """
DELETE FROM checkpoint_writes AS w
USING checkpoints AS c
WHERE c.thread_id = %(thread_id)s AND c.metadata->>'run_id' = %(run_id)s
  AND w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id
"""
DELETE_RUN_CHECKPOINTS_SQL: Final = """
DELETE FROM checkpoints WHERE thread_id = %(thread_id)s AND metadata->>'run_id' = %(run_id)s
"""


async def copy_thread_checkpoints(pool: AsyncConnectionPool[Any], source: str, target: str) -> None:
    """Give thread `target` every checkpoint, channel value and pending write of `source`, in one transaction."""
    params = {"source": source, "target": target}
    async with pool.connection() as conn, conn.transaction():
        for sql in (COPY_CHECKPOINTS_SQL, COPY_BLOBS_SQL, COPY_WRITES_SQL):
            await conn.execute(sql, params)


async def delete_run_checkpoints(pool: AsyncConnectionPool[Any], thread_id: str, run_id: str) -> None:
    """Forget every checkpoint (and its pending writes) that run `run_id` made on thread `thread_id`."""
    params = {"thread_id": thread_id, "run_id": run_id}
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(DELETE_RUN_CHECKPOINT_WRITES_SQL, params)
        await conn.execute(DELETE_RUN_CHECKPOINTS_SQL, params)
