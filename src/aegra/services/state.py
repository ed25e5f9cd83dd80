"""Thread state on the wire: LangGraph `StateSnapshot`s rendered exactly as langgraph-api renders them.

Shared by the threads API (state, history) and the run lifecycle (thread `values`, `interrupts`, `status`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from langgraph.types import Interrupt, PregelTask, StateSnapshot

from aegra.serde import to_jsonable

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]


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
    return to_jsonable(_snapshot_to_raw(snapshot))


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
        return "error"
    if snapshot is None:
        return "idle"
    if snapshot.next or snapshot.interrupts or any(task.interrupts for task in snapshot.tasks):
        return "interrupted"
    return "idle"


def values_of(snapshot: StateSnapshot) -> Any:
    """The JSON-safe `values` of a snapshot, as cached on the thread row."""
    return to_jsonable(snapshot.values)
