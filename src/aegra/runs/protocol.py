"""A run's events (as `runs.stream` sends them) → the v3 thread-stream protocol's events: `lifecycle`, `values`,
`updates`, `messages` (`message-start`, `content-block-*`, `message-finish`, one delta per token), `input.requested`,
`custom`, `tasks`, `checkpoints`, each with its subgraph namespace. Pure: one translator per run, no I/O, and the
same events in always give the same protocol events out (clients resume by counting them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from aegra import serde
from aegra.runs.events import StreamEvent

INTERRUPT_KEY: Final = "__interrupt__"
# Run event modes that pass through as the protocol channel of the same name.
PASSTHROUGH: Final = frozenset({"values", "updates", "tasks", "checkpoints"})
# What a v3 run streams (`messages-tuple` carries each token as it comes).
RUN_STREAM_MODES: Final = ("values", "updates", "messages-tuple", "custom", "tasks", "checkpoints")
ROLES: Final = {"AIMessageChunk": "ai", "ai": "ai", "human": "human", "system": "system", "tool": "tool"}


@dataclass(frozen=True, slots=True)
class ProtocolEvent:
    """One protocol event before it is numbered for its thread: `method`, `namespace` and `data`."""

    method: str
    namespace: tuple[str, ...]
    data: Any


def split_event_name(name: str) -> tuple[str, tuple[str, ...]]:
    """`updates|child:1` → (`updates`, (`child:1`,))."""
    mode, *namespace = name.split("|")
    return mode, tuple(namespace)


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text blocks of a list."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [block if isinstance(block, str) else block.get("text", "") for block in content]
    return "".join(part for part in parts if isinstance(part, str))


@dataclass(slots=True)
class OpenMessage:
    """A message whose tokens are still streaming: which content blocks it has started, and their contents."""

    message_id: str
    namespace: tuple[str, ...]
    text: str = ""
    text_started: bool = False
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)


class MessageTranslator:
    """`messages-tuple` chunks → `message-start`, `content-block-start|delta|finish`, `message-finish`."""

    def __init__(self) -> None:
        self.open: dict[str, OpenMessage] = {}
        self.finished: set[str] = set()
        self._anonymous = 0

    def chunk(self, namespace: tuple[str, ...], payload: Any) -> list[ProtocolEvent]:
        if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[0], dict):
            return []
        message, metadata = payload
        if not message.get("id"):
            self._anonymous += 1
        message_id = str(message.get("id") or f"message-{self._anonymous}")
        if message_id not in self.open and message.get("chunk_position") == "last":
            # The closing chunk of a model's stream may carry the run's id rather than the message's.
            message_id = self._latest_open(namespace) or message_id
        if message_id in self.finished:
            return []  # the whole message again after its tokens (a node returning it): already complete
        out: list[ProtocolEvent] = []
        current = self.open.get(message_id)
        if current is None:
            current = self.open[message_id] = OpenMessage(message_id, namespace)
            role = ROLES.get(str(message.get("type")), "ai")
            start: dict[str, Any] = {"event": "message-start", "role": role, "id": message_id}
            if isinstance(metadata, dict):
                start["metadata"] = {key: value for key, value in metadata.items() if _scalar(value)}
            if message.get("tool_call_id"):
                start["tool_call_id"] = message["tool_call_id"]
            out.append(ProtocolEvent("messages", namespace, start))
        out += self._text(current, text_of(message.get("content")))
        out += self._tool_call_chunks(current, message.get("tool_call_chunks") or _whole_calls(message))
        if message.get("type") != "AIMessageChunk" or message.get("chunk_position") == "last":
            out += self.finish(message_id)
        if message.get("type") == "tool" and message.get("tool_call_id"):
            out.append(_tool_ended(namespace, message))
        return out

    def _latest_open(self, namespace: tuple[str, ...]) -> str | None:
        ids = [message_id for message_id, current in self.open.items() if current.namespace == namespace]
        return ids[-1] if ids else None

    def finish(self, message_id: str) -> list[ProtocolEvent]:
        current = self.open.pop(message_id, None)
        if current is None:
            return []
        self.finished.add(message_id)
        ns = current.namespace
        out: list[ProtocolEvent] = []
        blocks: dict[int, dict[str, Any]] = {0: {"type": "text", "text": current.text}} if current.text_started else {}
        for index, call in current.tool_calls.items():
            blocks[index] = {"type": "tool_call", "id": call["id"], "name": call["name"], "args": _args(call["args"])}
        for index, block in blocks.items():
            out.append(
                ProtocolEvent("messages", ns, {"event": "content-block-finish", "index": index, "content": block})
            )
        out.append(ProtocolEvent("messages", ns, {"event": "message-finish"}))
        for call in current.tool_calls.values():  # the model asked for these tools: they start now
            started = {"event": "tool-started", "tool_call_id": call["id"], "tool_name": call["name"]}
            out.append(ProtocolEvent("tools", ns, started | {"input": _args(call["args"])}))
        return out

    def finish_namespace(self, namespace: tuple[str, ...]) -> list[ProtocolEvent]:
        """A node of this namespace ended: its messages are complete."""
        ids = [message_id for message_id, current in self.open.items() if current.namespace == namespace]
        return [event for message_id in ids for event in self.finish(message_id)]

    def finish_all(self) -> list[ProtocolEvent]:
        return [event for message_id in list(self.open) for event in self.finish(message_id)]

    @staticmethod
    def _text(current: OpenMessage, text: str) -> list[ProtocolEvent]:
        if not text:
            return []
        out: list[ProtocolEvent] = []
        if not current.text_started:
            current.text_started = True
            start = {"event": "content-block-start", "index": 0, "content": {"type": "text", "text": ""}}
            out.append(ProtocolEvent("messages", current.namespace, start))
        current.text += text
        delta = {"event": "content-block-delta", "index": 0, "delta": {"type": "text-delta", "text": text}}
        return [*out, ProtocolEvent("messages", current.namespace, delta)]

    @staticmethod
    def _tool_call_chunks(current: OpenMessage, chunks: list[Any]) -> list[ProtocolEvent]:
        out: list[ProtocolEvent] = []
        for chunk in chunks:
            if not isinstance(chunk, dict):
                continue
            index = 1 + int(chunk.get("index") or 0)  # block 0 is the text
            call = current.tool_calls.get(index)
            if call is None:
                call = current.tool_calls[index] = {"id": chunk.get("id"), "name": chunk.get("name"), "args": ""}
                block = {"type": "tool_call_chunk", "id": call["id"], "name": call["name"], "args": ""}
                out.append(
                    ProtocolEvent(
                        "messages",
                        current.namespace,
                        {"event": "content-block-start", "index": index, "content": block},
                    )
                )
            args = chunk.get("args") or ""
            if args:
                call["args"] += args
                delta = {
                    "event": "content-block-delta",
                    "index": index,
                    "delta": {"type": "tool-call-delta", "args": args},
                }
                out.append(ProtocolEvent("messages", current.namespace, delta))
        return out


def _whole_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole AI message's tool calls as the chunks a stream would have carried."""
    calls = message.get("tool_calls") if message.get("type") == "ai" else None
    return [
        {
            "index": index,
            "id": call.get("id"),
            "name": call.get("name"),
            "args": serde.dumps(call.get("args") or {}).decode(),
        }
        for index, call in enumerate(calls or [])
        if isinstance(call, dict)
    ]


def _tool_ended(namespace: tuple[str, ...], message: dict[str, Any]) -> ProtocolEvent:
    """A tool's result message: `tool-finished` with its output, or `tool-error`."""
    call_id = message["tool_call_id"]
    if message.get("status") == "error":
        return ProtocolEvent(
            "tools",
            namespace,
            {"event": "tool-error", "tool_call_id": call_id, "message": text_of(message.get("content"))},
        )
    return ProtocolEvent(
        "tools", namespace, {"event": "tool-finished", "tool_call_id": call_id, "output": message.get("content")}
    )


def _args(raw: str) -> Any:
    """A tool call's streamed arguments, parsed; `{}` when they are not JSON (a model can stream anything)."""
    if not raw:
        return {}
    try:
        return serde.loads(raw)
    except ValueError:
        return {}


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class RunTranslator:
    """One run's events → protocol events; `end` adds the closing ones once the run's stream is over."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.messages = MessageTranslator()
        self.interrupted = False
        self.error: str | None = None

    def event(self, item: StreamEvent) -> list[ProtocolEvent]:
        mode, namespace = split_event_name(item.event)
        mode = mode.split("/", 1)[0]
        data = serde.loads(item.data)
        if mode == "metadata":
            return [ProtocolEvent("lifecycle", (), {"event": "running", "run_id": self.run_id})]
        if mode == "messages":
            return self.messages.chunk(namespace, data)
        if mode == "error":
            self.error = str(data.get("message") or data.get("error")) if isinstance(data, dict) else str(data)
            return self.messages.finish_all()
        if mode == "custom":
            return [ProtocolEvent("custom", namespace, {"payload": data})]
        if mode not in PASSTHROUGH:
            return []
        out = self.messages.finish_namespace(namespace) if mode in ("updates", "values") else []
        if mode == "values" and isinstance(data, dict) and INTERRUPT_KEY in data:
            return out + self._interrupts(namespace, data[INTERRUPT_KEY])
        if mode == "updates" and isinstance(data, dict) and INTERRUPT_KEY in data:
            return out
        return [*out, ProtocolEvent(mode, namespace, data)]

    def end(self, status: str) -> list[ProtocolEvent]:
        """The run's stream ended with the run in `status`: close its messages and say how it ended."""
        out = self.messages.finish_all()
        if self.error is not None or status in ("error", "timeout"):
            data = {"event": "failed", "run_id": self.run_id, "error": self.error or f"Run ended with {status}"}
        elif status == "interrupted" and not self.interrupted:
            data = {"event": "failed", "run_id": self.run_id, "error": "Run was cancelled"}
        elif self.interrupted:
            data = {"event": "interrupted", "run_id": self.run_id}
        else:
            data = {"event": "completed", "run_id": self.run_id}
        return [*out, ProtocolEvent("lifecycle", (), data)]

    def _interrupts(self, namespace: tuple[str, ...], interrupts: Any) -> list[ProtocolEvent]:
        out: list[ProtocolEvent] = []
        for entry in interrupts if isinstance(interrupts, list) else []:
            if not isinstance(entry, dict) or not entry.get("id"):
                continue
            self.interrupted = True
            value = entry.get("value")
            # langgraph-api sends `payload`; SDK 0.4.14 reads `value`: both, so `thread.interrupts` carries it.
            data = {"interrupt_id": entry["id"], "payload": value, "value": value}
            out.append(ProtocolEvent("input.requested", namespace, data))
        return out
