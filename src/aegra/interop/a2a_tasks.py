"""A2A's view of our runs: a task is a run (its id `"{context_id}:{run_id}"`, as langgraph-api composes it), a
context is a thread; an A2A message becomes a run's input and a run's output becomes the task's artifact."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError
from google.protobuf import json_format, struct_pb2

from aegra.db.models import Run as RunRow
from aegra.schemas.status import RunStatus

INTERRUPT_KEY: Final = "__interrupt__"
ERROR_KEY: Final = "__error__"
RESPONSE_ARTIFACT: Final = "Assistant Response"

_STATES: Final[dict[str, a2a.TaskState]] = {
    RunStatus.PENDING: a2a.TASK_STATE_SUBMITTED,
    RunStatus.RUNNING: a2a.TASK_STATE_WORKING,
    RunStatus.SUCCESS: a2a.TASK_STATE_COMPLETED,
    RunStatus.INTERRUPTED: a2a.TASK_STATE_CANCELED,  # cancelled by a client; graph interrupts end in `success`
    RunStatus.ERROR: a2a.TASK_STATE_FAILED,
    RunStatus.TIMEOUT: a2a.TASK_STATE_FAILED,
}
_AI_TYPES: Final = frozenset({"ai", "AIMessage", "AIMessageChunk"})


def task_id(context_id: uuid.UUID | str, run_id: uuid.UUID | str) -> str:
    """The A2A task id of a run: its thread (the context) and the run, so `tasks/get` needs nothing else."""
    return f"{context_id}:{run_id}"


def parse_task_id(raw: str) -> tuple[str, str]:
    """`(thread_id, run_id)` of a task id; an id this server did not issue is an unknown task."""
    context_id, sep, run_id = raw.partition(":")
    if not sep or not context_id or not run_id:
        raise TaskNotFoundError(f"Task {raw!r} not found")
    return context_id, run_id


def context_thread_id(message: a2a.Message) -> str:
    """The thread a message continues (its `contextId`), or a new one; a context id must be a UUID."""
    if not message.context_id:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(message.context_id))
    except ValueError:
        raise InvalidParamsError(f"Invalid contextId {message.context_id!r}: expected a UUID") from None


def run_input(message: a2a.Message) -> dict[str, Any]:
    """The run's input: the text parts as one user message in `messages`, data parts merged in as fields."""
    texts: list[str] = []
    values: dict[str, Any] = {}
    for part in message.parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "data":
            data = json_format.MessageToDict(part.data)
            if not isinstance(data, dict):
                raise InvalidParamsError("A data part must hold a JSON object")
            values.update(data)
        else:
            raise InvalidParamsError(f"Unsupported part {kind or 'without content'}: send text or data parts")
    if not texts and not values:
        raise InvalidParamsError("The message needs at least one text or data part")
    if texts:
        values.setdefault("messages", []).append({"role": "user", "content": "\n".join(texts)})
    return values


def resume_value(content: dict[str, Any]) -> Any:
    """What a message answering an interrupt resumes it with: its text, else its data (`resume` when it has one)."""
    messages = content.get("messages")
    if isinstance(messages, list) and messages:
        return messages[-1]["content"]
    return content.get("resume", content)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block if isinstance(block, str) else str(block.get("text", ""))
            for block in content
            if isinstance(block, str) or (isinstance(block, Mapping) and block.get("type") == "text")
        )
    return ""


def _response_parts(values: Any) -> list[a2a.Part]:
    """The answer: the last AI message's text, else the output values as one data part."""
    messages = values.get("messages") if isinstance(values, Mapping) else None
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, Mapping) and message.get("type") in _AI_TYPES:
                text = _text_of(message.get("content"))
                if text:
                    return [a2a.Part(text=text)]
                break
    return [a2a.Part(data=json_format.ParseDict(values if values is not None else {}, struct_pb2.Value()))]


def agent_texts(update: Any) -> list[str]:
    """The text of the AI messages in one `updates` event (`{node: {"messages": [...]}}`), for progress."""
    texts: list[str] = []
    for node_update in update.values() if isinstance(update, Mapping) else ():
        messages = node_update.get("messages") if isinstance(node_update, Mapping) else None
        for message in messages if isinstance(messages, list) else [messages]:
            if (
                isinstance(message, Mapping)
                and message.get("type") in _AI_TYPES
                and (text := _text_of(message.get("content")))
            ):
                texts.append(text)
    return texts


def agent_message(text: str, *, context_id: str, task: str) -> a2a.Message:
    return a2a.Message(
        message_id=str(uuid.uuid4()),
        role=a2a.ROLE_AGENT,
        parts=[a2a.Part(text=text)],
        context_id=context_id,
        task_id=task,
    )


def _now() -> Any:
    return datetime.now(UTC)


def response_artifact(values: Any, assistant_id: str) -> a2a.Artifact:
    return a2a.Artifact(
        artifact_id=str(uuid.uuid4()),
        name=RESPONSE_ARTIFACT,
        description=f"Response from assistant {assistant_id}",
        parts=_response_parts(values),
    )


def finished_task(row: RunRow, result: Any, *, status: str, history: list[a2a.Message] | None = None) -> a2a.Task:
    """The task of a run that ended (`status`) with `result`: the wait/join body (values, `__interrupt__` or
    `__error__`)."""
    context_id, tid = str(row.thread_id), task_id(row.thread_id, row.run_id)
    task = a2a.Task(id=tid, context_id=context_id, history=history or [])
    if isinstance(result, Mapping) and ERROR_KEY in result:
        error = result[ERROR_KEY] if isinstance(result[ERROR_KEY], Mapping) else {"error": str(result[ERROR_KEY])}
        text = f"Error executing assistant: {error.get('error')}: {error.get('message', '')}".rstrip(": ")
        task.status.CopyFrom(
            a2a.TaskStatus(state=a2a.TASK_STATE_FAILED, message=agent_message(text, context_id=context_id, task=tid))
        )
    elif isinstance(result, Mapping) and INTERRUPT_KEY in result:
        task.status.CopyFrom(a2a.TaskStatus(state=a2a.TASK_STATE_INPUT_REQUIRED, timestamp=_now()))
        interrupts = json_format.ParseDict({"interrupts": result[INTERRUPT_KEY]}, struct_pb2.Value())
        task.artifacts.append(
            a2a.Artifact(artifact_id=str(uuid.uuid4()), name="Interrupt", parts=[a2a.Part(data=interrupts)])
        )
    else:
        final = _STATES.get(status, a2a.TASK_STATE_CANCELED)  # `rollback`: cancelled, its checkpoints deleted
        task.status.CopyFrom(a2a.TaskStatus(state=final, timestamp=_now()))
        if final == a2a.TASK_STATE_COMPLETED:
            task.artifacts.append(response_artifact(result, str(row.assistant_id)))
    return task


def run_task(row: RunRow, *, history: list[a2a.Message] | None = None) -> a2a.Task:
    """The task of a run as it is now (for `tasks/get`, `tasks/cancel`)."""
    status = RunStatus(row.status)
    if status in (RunStatus.ERROR, RunStatus.TIMEOUT):
        return finished_task(row, {ERROR_KEY: row.error or {"error": status.value}}, status=status, history=history)
    if status == RunStatus.SUCCESS:
        return finished_task(row, row.output or {}, status=status, history=history)
    task = a2a.Task(id=task_id(row.thread_id, row.run_id), context_id=str(row.thread_id), history=history or [])
    task.status.CopyFrom(a2a.TaskStatus(state=_STATES.get(status, a2a.TASK_STATE_SUBMITTED), timestamp=_now()))
    return task


def user_history(row: RunRow) -> list[a2a.Message]:
    """The user message that started the run, rebuilt from its input (for `tasks/get`)."""
    run_input_value = (row.kwargs or {}).get("input")
    messages = run_input_value.get("messages") if isinstance(run_input_value, Mapping) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], Mapping):
        return []
    text = _text_of(messages[-1].get("content"))
    tid = task_id(row.thread_id, row.run_id)
    message = a2a.Message(message_id=str(uuid.uuid4()), role=a2a.ROLE_USER, parts=[a2a.Part(text=text)])
    message.context_id, message.task_id = str(row.thread_id), tid
    return [message] if text else []
