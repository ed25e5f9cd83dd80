"""The v3 thread-stream commands (`POST /threads/{id}/commands`, and the same over the WebSocket): `run.start`
queues a run on the thread (creating the thread, whose id the SDK mints), `input.respond` resumes an interrupt.
Both become ordinary runs through `RunService`, under the same auth as `runs.create`; their events reach the thread
streams from the run-event pipeline like any other run's. Answers are protocol envelopes: a result, or an error
object (`unknown_command`, `invalid_argument`, `no_such_interrupt`)."""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from aegra.db.models import Run as RunRow
from aegra.db.models import Thread as ThreadRow
from aegra.runs.protocol import RUN_STREAM_MODES
from aegra.runs.service import RunService
from aegra.schemas.runs import RunCreateStateful
from aegra.services.ids import parse_uuid

DEADLOCK: Final = "40P01"
DEADLOCK_RETRIES: Final = 3
KNOWN_COMMANDS: Final = frozenset({"run.start", "input.respond"})
# Run fields a `run.start` may carry besides `assistant_id`, `input`, `config` and `metadata`.
RUN_OPTIONS: Final = ("context", "multitask_strategy", "checkpoint_id", "interrupt_before", "interrupt_after")


def error(command_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": command_id, "error": code, "message": message}


def malformed(payload: Any) -> dict[str, Any] | None:
    """The error for what is not a command (an object with an integer `id` and a string `method`), else None."""
    if (
        isinstance(payload, dict)
        and isinstance(payload.get("id"), int)
        and not isinstance(payload.get("id"), bool)
        and isinstance(payload.get("method"), str)
    ):
        return None
    command_id = payload.get("id") if isinstance(payload, dict) else None
    return error(command_id, "invalid_argument", "Protocol commands must include an integer id and string method.")


class ThreadCommands:
    """Commands for one thread, answered through the request's `RunService`."""

    def __init__(self, runs: RunService, thread_id: str) -> None:
        self.runs = runs
        self.thread_id = thread_id

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """Answer a well-formed command (`malformed` has vetted it)."""
        command_id = command["id"]
        method = command["method"]
        if method not in KNOWN_COMMANDS:
            return error(command_id, "unknown_command", f"Unknown protocol command: {method}")
        params = command.get("params")
        if not isinstance(params, dict):
            params = {}
        if method == "run.start":
            return await self._run_start(command_id, params)
        return await self._input_respond(command_id, params)

    async def _run_start(self, command_id: int, params: dict[str, Any]) -> dict[str, Any]:
        assistant_id = params.get("assistant_id")
        if not isinstance(assistant_id, str) or not assistant_id:
            return error(command_id, "invalid_argument", "run.start requires an assistant_id.")
        body: dict[str, Any] = {
            key: params[key] for key in ("input", "config", "metadata", *RUN_OPTIONS) if key in params
        }
        return await self._queue(command_id, {"assistant_id": assistant_id, **body})

    async def _input_respond(self, command_id: int, params: dict[str, Any]) -> dict[str, Any]:
        interrupt_id = params.get("interrupt_id")
        if not isinstance(interrupt_id, str) or not interrupt_id:
            return error(command_id, "invalid_argument", "input.respond requires an interrupt_id.")
        namespace = params.get("namespace", [])
        if not isinstance(namespace, list) or not all(isinstance(segment, str) for segment in namespace):
            return error(command_id, "invalid_argument", "input.respond requires namespace to be a list of strings.")
        thread = await self._thread()
        if thread is None:
            return error(command_id, "no_such_run", "No interrupted run is bound to this thread.")
        if thread.status != "busy" and not _has_interrupt(thread.interrupts, interrupt_id):
            # While a run is still finishing, its interrupt is not recorded yet: the resume queues behind it.
            return error(command_id, "no_such_interrupt", f"Unknown or already-consumed interrupt: {interrupt_id}")
        assistant_id = await self._last_assistant(thread.thread_id)
        if assistant_id is None:
            return error(command_id, "no_such_run", "No interrupted run is bound to this thread.")
        command = {"resume": {interrupt_id: params.get("response")}}
        body: dict[str, Any] = {"command": command}
        body |= {key: params[key] for key in ("config", "metadata") if key in params}
        return await self._queue(command_id, {"assistant_id": assistant_id, **body})

    async def _queue(self, command_id: int, body: dict[str, Any]) -> dict[str, Any]:
        body |= {
            "stream_mode": list(RUN_STREAM_MODES),
            "stream_subgraphs": True,
            "stream_resumable": True,
            "if_not_exists": "create",
        }
        try:
            payload = msgspec.convert(body, type=RunCreateStateful)
        except msgspec.ValidationError as exc:
            return error(command_id, "invalid_argument", str(exc))
        row = await self._create(payload)
        # The SDK moves its resume cursor to `applied_through_seq`: 0 keeps the whole thread's history in view.
        return {
            "type": "success",
            "id": command_id,
            "result": {"run_id": str(row.run_id)},
            "meta": {"applied_through_seq": 0},
        }

    async def _create(self, payload: RunCreateStateful) -> RunRow:
        """Queue the run; retried when PostgreSQL breaks a deadlock with the end of the thread's previous run (it
        locks that run, then the thread; queueing locks them the other way round), as a resume right after an
        interrupt often meets."""
        for attempt in range(DEADLOCK_RETRIES):
            try:
                return await self.runs.create(self.thread_id, payload)
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == DEADLOCK_RETRIES - 1:
                    raise
                await self.runs.session.rollback()
        raise AssertionError("unreachable")

    async def _thread(self) -> ThreadRow | None:
        thread_id = parse_uuid(self.thread_id, "thread")
        filters = await self.runs.auth.authorize("threads", "read", {"thread_id": thread_id})
        thread = await self.runs.session.get(ThreadRow, thread_id)
        if thread is None or not await self.runs.thread_visible(thread_id, filters):
            return None
        return thread

    async def _last_assistant(self, thread_id: uuid.UUID) -> str | None:
        stmt = (
            select(RunRow.assistant_id)
            .where(RunRow.thread_id == thread_id)
            .order_by(RunRow.created_at.desc(), RunRow.run_id.desc())
            .limit(1)
        )
        assistant_id = await self.runs.session.scalar(stmt)
        return None if assistant_id is None else str(assistant_id)


def _has_interrupt(interrupts: Any, interrupt_id: str) -> bool:
    """Whether the thread's recorded interrupts (`{task id: [{id, value}, ...]}`) hold this one."""
    if not isinstance(interrupts, dict):
        return False
    return any(
        isinstance(entry, dict) and entry.get("id") == interrupt_id
        for entries in interrupts.values()
        if isinstance(entries, list)
        for entry in entries
    )
