"""Thread state on the wire: LangGraph `StateSnapshot`s rendered exactly as langgraph-api renders them.

Shared by the threads API (state, history) and the run lifecycle (thread `values`, `interrupts`, `status`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.errors import InvalidUpdateError
from langgraph.types import Command, Interrupt, PregelTask, Send, StateSnapshot, StateUpdate
from sqlalchemy import exists, select

from aegra.db.database import Database
from aegra.db.models import Run, utcnow
from aegra.db.models import Thread as ThreadRow
from aegra.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableError
from aegra.graphs.compiled import CompiledGraph
from aegra.graphs.registry import AccessContext, GraphRegistry
from aegra.schemas.status import INFLIGHT, ThreadStatus
from aegra.schemas.threads import CheckpointRef, HistorySearch, Superstep
from aegra.schemas.threads import StateUpdate as StateUpdateBody
from aegra.serde import to_jsonable

if TYPE_CHECKING:
    from aegra.services.threads import ThreadService

STATE_FIELDS = frozenset(
    {
        "values", "next", "tasks", "checkpoint", "metadata", "created_at", "parent_checkpoint", "interrupts",
        "checkpoint_id", "parent_checkpoint_id",
    }
)  # fmt: skip


def checkpoint_from_config(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The `checkpoint` object of a snapshot config, or None when it does not name a checkpoint."""
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("thread_id") or not configurable.get("checkpoint_id"):
        return None
    checkpoint: dict[str, Any] = {
        "checkpoint_id": configurable["checkpoint_id"],
        "thread_id": configurable["thread_id"],
    }
    if "checkpoint_ns" in configurable:
        checkpoint["checkpoint_ns"] = configurable["checkpoint_ns"] or ""
    if "checkpoint_map" in configurable:
        checkpoint["checkpoint_map"] = configurable["checkpoint_map"]
    return checkpoint


def interrupt_to_dict(interrupt: Interrupt | Mapping[str, Any]) -> dict[str, Any]:
    """An interrupt as `{id, value}` (plus `response_schema` when the graph declared one)."""
    if isinstance(interrupt, Mapping):
        raw = dict(interrupt)
        result = {"id": raw.get("id"), "value": raw.get("value")}
        schema = raw.get("response_schema")
    else:
        result = {"id": interrupt.id, "value": interrupt.value}
        schema = getattr(interrupt, "response_schema", None)
    if isinstance(schema, Mapping):
        result["response_schema"] = dict(schema)
    return result


def _interrupts(interrupts: Iterable[Interrupt | Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [interrupt_to_dict(item) for item in interrupts]


def _task_to_dict(task: PregelTask) -> dict[str, Any]:
    nested = task.state
    return {
        "id": task.id,
        "name": task.name,
        "path": task.path,
        "error": task.error,
        "interrupts": _interrupts(task.interrupts),
        "checkpoint": nested["configurable"] if nested is not None and not isinstance(nested, StateSnapshot) else None,
        "state": _snapshot_to_raw(nested) if isinstance(nested, StateSnapshot) else None,
        "result": task.result,
    }


def _snapshot_to_raw(snapshot: StateSnapshot) -> dict[str, Any]:
    checkpoint = checkpoint_from_config(snapshot.config)
    parent = checkpoint_from_config(snapshot.parent_config)
    return {
        "values": snapshot.values,
        "next": list(snapshot.next),
        "tasks": [_task_to_dict(task) for task in snapshot.tasks],
        "metadata": snapshot.metadata,
        "created_at": snapshot.created_at,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "interrupts": _interrupts(snapshot.interrupts),
        # Deprecated flat ids; langgraph-api still sends them and older clients read them.
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }


def state_to_dict(snapshot: StateSnapshot) -> dict[str, Any]:
    """The ThreadState JSON of a snapshot (nested task `state` when read with `subgraphs=True`)."""
    rendered: dict[str, Any] = to_jsonable(_snapshot_to_raw(snapshot))
    return rendered


def empty_state() -> dict[str, Any]:
    """The state of a thread that has no checkpoint (or no graph) yet."""
    return state_to_dict(
        StateSnapshot(
            values={}, next=(), config={}, metadata=None, created_at=None, parent_config=None, tasks=(), interrupts=()
        )
    )


def interrupts_by_task(snapshot: StateSnapshot) -> dict[str, list[dict[str, Any]]]:
    """The thread `interrupts` field: pending interrupts keyed by the id of the task that raised them."""
    return {task.id: to_jsonable(_interrupts(task.interrupts)) for task in snapshot.tasks if task.interrupts}


def thread_status_after_run(snapshot: StateSnapshot | None, *, errored: bool) -> ThreadStatus:
    """`error` after a failed run; `interrupted` when the graph waits (interrupt or breakpoint); else `idle`."""
    if errored:
        return ThreadStatus.ERROR
    if snapshot is None:
        return ThreadStatus.IDLE
    if snapshot.next or snapshot.interrupts or any(task.interrupts for task in snapshot.tasks):
        return ThreadStatus.INTERRUPTED
    return ThreadStatus.IDLE


def values_of(snapshot: StateSnapshot) -> Any:
    """The JSON-safe `values` of a snapshot, as cached on the thread row."""
    return to_jsonable(snapshot.values)


def project_state(state: dict[str, Any], select_fields: Sequence[str] | None) -> dict[str, Any]:
    """Only the `select`ed fields of a ThreadState; `values.<key>` keeps just that key of `values`."""
    if not select_fields:
        return state
    value_keys = [name.removeprefix("values.") for name in select_fields if name.startswith("values.")]
    fields = [name for name in select_fields if not name.startswith("values.")]
    unknown = [name for name in fields if name not in STATE_FIELDS]
    if unknown:
        raise UnprocessableError(f"Invalid select field(s) {unknown}: expected {sorted(STATE_FIELDS)} or values.<key>")
    projected = {name: state[name] for name in fields}
    if value_keys and "values" not in projected:
        values = state["values"]
        projected["values"] = (
            {key: values[key] for key in value_keys if key in values} if isinstance(values, dict) else values
        )
    return projected


def thread_graph_id(metadata: Mapping[str, Any]) -> str | None:
    """The graph a thread belongs to: `metadata.graph_id`, stamped by its runs or given at create."""
    graph_id = metadata.get("graph_id")
    return graph_id if isinstance(graph_id, str) and graph_id else None


def no_graph_error(thread_id: uuid.UUID) -> BadRequestError:
    return BadRequestError(
        f"Thread '{thread_id}' has no assigned graph ID. This usually occurs when no runs have been made on this "
        "thread. Run the thread once, or set metadata.graph_id (threads.update / threads.create(graph_id=...)) first."
    )


def thread_config(row: ThreadRow, checkpoint: CheckpointRef | None = None) -> RunnableConfig:
    """The RunnableConfig addressing a thread (at `checkpoint`, when given)."""
    configurable: dict[str, Any] = {
        **(row.config.get("configurable") or {}),
        "thread_id": str(row.thread_id),
        "checkpoint_ns": "",
    }
    graph_id = thread_graph_id(row.metadata_)
    if graph_id is not None:
        configurable["graph_id"] = graph_id
    if checkpoint is not None:
        configurable["checkpoint_ns"] = checkpoint.checkpoint_ns or ""
        if checkpoint.checkpoint_id:
            configurable["checkpoint_id"] = checkpoint.checkpoint_id
        if checkpoint.checkpoint_map:
            configurable["checkpoint_map"] = checkpoint.checkpoint_map
    return cast("RunnableConfig", {**row.config, "configurable": configurable})  # the thread's stored config keys


@contextlib.asynccontextmanager
async def open_thread_graph(
    registry: GraphRegistry, database: Database, row: ThreadRow, *, access_context: AccessContext, user: Any = None
) -> AsyncIterator[CompiledGraph]:
    """The thread's graph bound to the Postgres checkpointer and store; 400 when the thread has no graph.

    `user` is the caller, handed to graph factories through their `ServerRuntime`.
    """
    graph_id = thread_graph_id(row.metadata_)
    if graph_id is None:
        raise no_graph_error(row.thread_id)
    async with registry.get_graph(
        graph_id,
        config=thread_config(row),
        access_context=access_context,
        checkpointer=database.checkpointer,
        store=database.store,
        user=user,
    ) as graph:
        yield graph


def command_from_json(raw: Mapping[str, Any]) -> Command[Any]:
    """A `Command` from its JSON form: `update`, `resume`, `goto` (node names or `{node, input}` sends)."""
    goto = raw.get("goto")
    if goto is not None:
        targets = goto if isinstance(goto, list) else [goto]
        goto = [Send(item["node"], item.get("input")) if isinstance(item, Mapping) else item for item in targets]
    return Command(update=raw.get("update"), resume=raw.get("resume"), goto=goto or ())


async def apply_supersteps(graph: CompiledGraph, row: ThreadRow, supersteps: Sequence[Superstep]) -> StateSnapshot:
    """Write `supersteps` to a thread's checkpoints as if the named nodes had run; returns the new state."""
    config = thread_config(row)
    await graph.abulk_update_state(
        config,
        [
            [
                StateUpdate(
                    command_from_json(update.command) if update.command else update.values,  # type: ignore[arg-type]  # langgraph types `values` as a dict, but a Command is accepted there
                    update.as_node,
                )
                for update in superstep.updates
            ]
            for superstep in supersteps
        ],
    )
    return await graph.aget_state(config)


def refresh_state_cache(row: ThreadRow, snapshot: StateSnapshot) -> None:
    """Mirror the latest checkpoint into the thread row (`values`, `interrupts`, `status`)."""
    now = utcnow()
    row.values = values_of(snapshot)
    row.interrupts = interrupts_by_task(snapshot)
    row.status = thread_status_after_run(snapshot, errored=False)
    row.error = None
    row.state_updated_at = now
    row.updated_at = now


def _before_config(before: str | CheckpointRef | None, row: ThreadRow) -> RunnableConfig | None:
    if before is None:
        return None
    checkpoint_id = before if isinstance(before, str) else before.checkpoint_id
    if not checkpoint_id:
        return None
    return {"configurable": {"thread_id": str(row.thread_id), "checkpoint_id": checkpoint_id}}


class ThreadStateService:
    """Reads and writes of a thread's state (its checkpoints) through the thread's graph."""

    def __init__(self, threads: ThreadService) -> None:
        self.threads = threads
        self.session = threads.session
        self.registry = threads.registry
        self.database = threads.database

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
        async with open_thread_graph(
            self.registry, self.database, row, access_context="threads.read", user=self.threads.auth.user
        ) as graph:
            snapshot = await graph.aget_state(thread_config(row, checkpoint), subgraphs=subgraphs)
        return project_state(state_to_dict(snapshot), select_fields)

    async def update_state(self, raw_id: str, data: StateUpdateBody) -> dict[str, Any]:
        """Apply `values` as `as_node`; returns the new checkpoint. 409 while a run is in flight."""
        thread_id, filters = await self.threads.authorize("update", raw_id)
        row = await self.threads.lock_row(thread_id, filters=filters)
        checkpoint = data.checkpoint
        if data.checkpoint_id:
            checkpoint = CheckpointRef(
                checkpoint_id=data.checkpoint_id, checkpoint_ns=checkpoint.checkpoint_ns if checkpoint else ""
            )
        if thread_graph_id(row.metadata_) is None:
            raise no_graph_error(row.thread_id)
        if await self._has_active_run(row.thread_id):
            raise ConflictError("Thread is busy with a running job. Cannot update state.")
        if checkpoint is not None and checkpoint.checkpoint_id:
            await self._require_checkpoint(row, checkpoint)
        async with open_thread_graph(
            self.registry, self.database, row, access_context="threads.update", user=self.threads.auth.user
        ) as graph:
            try:
                next_config = await graph.aupdate_state(
                    thread_config(row, checkpoint), data.values, as_node=data.as_node
                )
            except (InvalidUpdateError, ValueError, NotImplementedError) as exc:
                raise UnprocessableError(f"Invalid state update: {exc}") from exc
            snapshot = await graph.aget_state(thread_config(row))
        refresh_state_cache(row, snapshot)
        await self.session.commit()
        configurable = to_jsonable(next_config["configurable"])
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
        async with open_thread_graph(
            self.registry, self.database, row, access_context="threads.read", user=self.threads.auth.user
        ) as graph:
            states = [
                project_state(state_to_dict(snapshot), query.select)
                async for snapshot in graph.aget_state_history(
                    config, filter=query.metadata or None, before=_before_config(query.before, row), limit=query.limit
                )
            ]
        return states

    async def _require_checkpoint(self, row: ThreadRow, checkpoint: CheckpointRef) -> None:
        config = {
            "configurable": {
                "thread_id": str(row.thread_id),
                "checkpoint_ns": checkpoint.checkpoint_ns or "",
                "checkpoint_id": checkpoint.checkpoint_id,
            }
        }
        if await self.database.checkpointer.aget_tuple(config) is None:  # type: ignore[arg-type]
            raise NotFoundError(f"Checkpoint {checkpoint.checkpoint_id} not found in thread {row.thread_id}")

    async def _has_active_run(self, thread_id: uuid.UUID) -> bool:
        stmt = select(exists().where(Run.thread_id == thread_id, Run.status.in_(INFLIGHT)))
        return bool(await self.session.scalar(stmt))
