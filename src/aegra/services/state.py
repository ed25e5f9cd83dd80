"""Thread state through the thread's graph: the current state, its history, and updates (new checkpoints).
How a snapshot looks on the wire is `aegra.graphs.snapshots`' business."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import InvalidUpdateError

from aegra.db.models import Thread as ThreadRow
from aegra.db.repositories.runs import RunRepository
from aegra.errors import ConflictError, NotFoundError, UnprocessableError
from aegra.graphs.snapshots import (
    before_config,
    empty_state,
    no_graph_error,
    project_state,
    refresh_state_cache,
    state_to_dict,
    thread_config,
    thread_graph_id,
)
from aegra.runs import queue
from aegra.runs.queued import QueuedRuns, StateUpdated
from aegra.schemas.threads import CheckpointRef, HistorySearch
from aegra.schemas.threads import StateUpdate as StateUpdateBody
from aegra.serde import to_jsonable
from aegra.services.threads import ThreadService


class ThreadStateService:
    """Reads and writes of a thread's state (its checkpoints) through the thread's graph. With `notices` (the
    process's thread-stream wake-ups), each update is announced to the join streams of the thread, here and (by
    NOTIFY, in the update's transaction) in every other process."""

    def __init__(self, threads: ThreadService, notices: QueuedRuns | None = None) -> None:
        self.threads = threads
        self.notices = notices
        self.session = threads.session
        self.database = threads.database
        self.runs = RunRepository(threads.session)

    async def get_state(
        self,
        raw_id: str,
        checkpoint: CheckpointRef | None = None,
        *,
        subgraphs: bool = False,
        select_fields: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The thread's current state, or its state at `checkpoint`."""
        thread_id, filters = await self.threads.authorize("read", raw_id)
        row = await self.threads.get_row(thread_id, filters=filters)
        if checkpoint is not None and checkpoint.checkpoint_id:
            await self._require_checkpoint(row, checkpoint)
        if thread_graph_id(row.metadata_) is None:
            return project_state(empty_state(), select_fields)
        async with self.threads.open_graph(row, access_context="threads.read") as graph:
            snapshot = await graph.aget_state(thread_config(row, checkpoint), subgraphs=subgraphs)
        return project_state(state_to_dict(snapshot), select_fields)

    async def update_state(self, raw_id: str, data: StateUpdateBody) -> dict[str, Any]:
        """Apply `values` as `as_node`; returns the new checkpoint. 409 while a run is in flight."""
        thread_id, filters = await self.threads.authorize("update", raw_id)
        row = await self.threads.get_row(thread_id, filters=filters, lock=True)
        checkpoint = data.checkpoint
        if data.checkpoint_id:
            checkpoint = CheckpointRef(
                checkpoint_id=data.checkpoint_id, checkpoint_ns=checkpoint.checkpoint_ns if checkpoint else ""
            )
        if thread_graph_id(row.metadata_) is None:
            raise no_graph_error(row.thread_id)
        if await self.runs.has_inflight(row.thread_id):
            raise ConflictError("Thread is busy with a running job. Cannot update state.")
        if checkpoint is not None and checkpoint.checkpoint_id:
            await self._require_checkpoint(row, checkpoint)
        async with self.threads.open_graph(row, access_context="threads.update") as graph:
            try:
                next_config = await graph.aupdate_state(
                    thread_config(row, checkpoint), data.values, as_node=data.as_node
                )
            except (InvalidUpdateError, ValueError, NotImplementedError) as exc:
                raise UnprocessableError(f"Invalid state update: {exc}") from exc
            snapshot = await graph.aget_state(thread_config(row))
        refresh_state_cache(row, snapshot)
        configurable = to_jsonable(next_config["configurable"])
        update = StateUpdated(row.thread_id, str(configurable["checkpoint_id"]), await self.runs.last_id(row.thread_id))
        if self.notices is not None:
            await queue.notify(self.session, queue.CHANNEL_STATE, origin=self.notices.origin, body=update.encode())
        await self.session.commit()
        if self.notices is not None:
            self.notices.state_updated(update)
        return {
            "checkpoint": configurable,
            "configurable": configurable,
            "checkpoint_id": configurable["checkpoint_id"],
        }

    async def history(self, raw_id: str, query: HistorySearch) -> list[dict[str, Any]]:
        """Past states, newest first."""
        thread_id, filters = await self.threads.authorize("read", raw_id)
        row = await self.threads.get_row(thread_id, filters=filters)
        if thread_graph_id(row.metadata_) is None:
            return []
        config = thread_config(row, query.checkpoint)
        config["configurable"].pop("checkpoint_id", None)
        async with self.threads.open_graph(row, access_context="threads.read") as graph:
            states = [
                project_state(state_to_dict(snapshot), query.select)
                async for snapshot in graph.aget_state_history(
                    config, filter=query.metadata or None, before=before_config(query.before, row), limit=query.limit
                )
            ]
        return states

    async def _require_checkpoint(self, row: ThreadRow, checkpoint: CheckpointRef) -> None:
        config: RunnableConfig = {
            "configurable": {
                "thread_id": str(row.thread_id),
                "checkpoint_ns": checkpoint.checkpoint_ns or "",
                "checkpoint_id": checkpoint.checkpoint_id,
            }
        }
        if await self.database.checkpointer.aget_tuple(config) is None:
            raise NotFoundError(f"Checkpoint {checkpoint.checkpoint_id} not found in thread {row.thread_id}")
