"""Graph output → langgraph-api's events: every `astream` chunk (or `astream_events` event) becomes the SSE event
langgraph-api sends for it (name, namespace, payload), and what the run produced is kept for its result body.
Pure: events go to an `emit` callback, nothing here does I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from langchain_core.messages import BaseMessage, BaseMessageChunk, message_chunk_to_message
from langgraph.types import StateSnapshot

from aegra.graphs.snapshots import checkpoint_from_config
from aegra.schemas.status import FAILED, RunStatus

# How an execution can end: a run status, or `rollback` (the run and its checkpoints are deleted).
ROLLBACK: Final = "rollback"
Ending = RunStatus | Literal["rollback"]

HIDDEN_TAG: Final = "langsmith:hidden"
INTERRUPT_KEY: Final = "__interrupt__"

Emit = Callable[[str, Any], None]


def event_name(mode: str, namespace: tuple[str, ...]) -> str:
    """`mode`, or `mode|ns1|ns2` for a subgraph's event."""
    return "|".join((mode, *namespace)) if namespace else mode


def debug_checkpoint(payload: dict[str, Any]) -> dict[str, Any]:
    """langgraph-api adds `checkpoint`/`parent_checkpoint` objects to debug checkpoints, and task checkpoints."""
    tasks = []
    for task in payload.get("tasks") or []:
        state = task.get("state")
        if isinstance(state, Mapping) and state.get("configurable"):
            task = {key: value for key, value in task.items() if key != "state"} | {"checkpoint": state["configurable"]}
        tasks.append(task)
    return {
        **payload,
        "checkpoint": checkpoint_from_config(payload.get("config")),
        "parent_checkpoint": checkpoint_from_config(payload.get("parent_config")),
        "tasks": tasks,
    }


@dataclass(slots=True)
class MessageAccumulator:
    """The `messages` mode: `messages/metadata` once per message, then the message so far (`messages/partial`)
    or whole (`messages/complete`)."""

    messages: dict[str, Any] = field(default_factory=dict)

    def events(self, message: Any, metadata: Any) -> list[tuple[str, Any]]:
        if not isinstance(message, BaseMessage):
            return [("messages/complete", [message])]
        key = message.id or f"message-{len(self.messages)}"
        out: list[tuple[str, Any]] = []
        known = self.messages.get(key)
        if known is None:
            self.messages[key] = message
            out.append(("messages/metadata", {key: {"metadata": metadata}}))
        elif isinstance(known, BaseMessageChunk) and isinstance(message, BaseMessageChunk):
            self.messages[key] = known + message
        else:
            self.messages[key] = message
        if isinstance(message, BaseMessageChunk):
            return [*out, ("messages/partial", [message_chunk_to_message(self.messages[key])])]
        return [*out, ("messages/complete", [self.messages[key]])]


@dataclass(slots=True)
class RunResult:
    """What the run produced so far: the latest root `values` and any interrupts it stopped at."""

    values: Any = None
    interrupts: list[Any] = field(default_factory=list)
    error: dict[str, str] | None = None


class ChunkTranslator:
    """Turns `astream` chunks into langgraph-api's SSE events (names, namespaces and payloads)."""

    def __init__(self, requested: frozenset[str], *, subgraphs: bool, emit: Emit, result: RunResult) -> None:
        self.requested = requested
        self.subgraphs = subgraphs
        self.emit = emit
        self.result = result
        self.messages = MessageAccumulator()

    def chunk(self, item: Any) -> None:
        if self.subgraphs:
            namespace, mode, data = item
        else:
            (mode, data), namespace = item, ()
        namespace = tuple(namespace)
        if mode == "values" and not namespace:
            self._remember_values(data)
        if mode == "messages":
            self._messages(namespace, data)
            return
        if mode == "debug" and isinstance(data, dict) and data.get("type") == "checkpoint":
            data = {**data, "payload": debug_checkpoint(data["payload"])}
        if mode in self.requested:
            self.emit(event_name(mode, namespace), data)

    def event(self, event: dict[str, Any]) -> None:
        """One `astream_events` v2 event: the root graph's stream chunks, or an `events` event."""
        if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
            self.chunk(event["data"]["chunk"])
        elif HIDDEN_TAG not in (event.get("tags") or ()):
            self.emit("events", event)

    def _remember_values(self, data: Any) -> None:
        if isinstance(data, dict) and INTERRUPT_KEY in data:
            self.result.interrupts.extend(data[INTERRUPT_KEY])
        else:
            self.result.values = data

    def _messages(self, namespace: tuple[str, ...], data: Any) -> None:
        if "messages-tuple" in self.requested:
            self.emit(event_name("messages", namespace), data)
        elif "messages" in self.requested:
            message, metadata = data
            for name, payload in self.messages.events(message, metadata):
                self.emit(name, payload)


def result_body(ending: Ending, result: RunResult, snapshot: StateSnapshot | None) -> Any:
    """What `wait`/`join` answer with: the final values, only the interrupts when the run stopped at one, or
    `{"__error__": ...}`."""
    if ending in FAILED:
        return {"__error__": result.error}
    if ending == ROLLBACK:
        return {}
    if ending == RunStatus.SUCCESS and result.interrupts:
        return {INTERRUPT_KEY: result.interrupts}
    if result.values is not None:
        return result.values
    if snapshot is not None and snapshot.values:
        return snapshot.values
    return {}
