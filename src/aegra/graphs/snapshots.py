"""Thread state on the wire: LangGraph `StateSnapshot`s rendered exactly as langgraph-api renders them, and the
config addressing a thread's checkpoints. Pure functions (no I/O), shared by the threads API (state, history) and
the run lifecycle (a thread's cached `values`, `interrupts` and `status`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Interrupt, PregelTask, Send, StateSnapshot

from aegra.db.models import Thread as ThreadRow
from aegra.db.models import utcnow
from aegra.errors import BadRequestError, UnprocessableError
from aegra.schemas.status import ThreadStatus
from aegra.schemas.threads import CheckpointRef
from aegra.serde import to_jsonable

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


def command_from_json(raw: Mapping[str, Any]) -> Command[Any]:
    """A `Command` from its JSON form: `update`, `resume`, `goto` (node names or `{node, input}` sends)."""
    goto = raw.get("goto")
    if goto is not None:
        targets = goto if isinstance(goto, list) else [goto]
        goto = [Send(item["node"], item.get("input")) if isinstance(item, Mapping) else item for item in targets]
    return Command(update=raw.get("update"), resume=raw.get("resume"), goto=goto or ())


def refresh_state_cache(row: ThreadRow, snapshot: StateSnapshot) -> None:
    """Mirror the latest checkpoint into the thread row (`values`, `interrupts`, `status`)."""
    now = utcnow()
    row.values = values_of(snapshot)
    row.interrupts = interrupts_by_task(snapshot)
    row.status = thread_status_after_run(snapshot, errored=False)
    row.error = None
    row.state_updated_at = now
    row.updated_at = now


def before_config(before: str | CheckpointRef | None, row: ThreadRow) -> RunnableConfig | None:
    """The `before` of a history search as a config naming that checkpoint (None: no bound)."""
    if before is None:
        return None
    checkpoint_id = before if isinstance(before, str) else before.checkpoint_id
    if not checkpoint_id:
        return None
    return {"configurable": {"thread_id": str(row.thread_id), "checkpoint_id": checkpoint_id}}
