"""Request and response bodies of `/threads/{thread_id}/runs` and the stateless `/runs`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec

from aegra.schemas.common import JsonObject
from aegra.schemas.status import RunStatus

# Longest `after_seconds` delay: one year. A run meant to start later than that belongs in a cron.
MAX_AFTER_SECONDS = 365 * 24 * 60 * 60
AfterSeconds = Annotated[
    float, msgspec.Meta(ge=0, le=MAX_AFTER_SECONDS, description="Seconds to wait before the run starts (0 to 1 year).")
]

StreamMode = Literal[
    "values", "updates", "messages", "messages-tuple", "custom", "events", "debug", "tasks", "checkpoints"
]
MultitaskStrategy = Literal["reject", "enqueue", "interrupt", "rollback"]
CancelAction = Literal["interrupt", "rollback"]
Durability = Literal["sync", "async", "exit"]
RunField = Literal[
    "run_id", "thread_id", "assistant_id", "created_at", "updated_at", "status", "metadata", "kwargs",
    "multitask_strategy", "langsmith_session_name",
]  # fmt: skip


class SendSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A `Send` in `command.goto`: run `node` with `input` as its state."""

    node: str
    input: Any = None


class RunCommand(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """`command`: resume interrupts (one value, or a map of interrupt id to value), update state, jump to nodes."""

    update: Any | msgspec.UnsetType = msgspec.UNSET
    resume: Any | msgspec.UnsetType = msgspec.UNSET
    goto: str | SendSpec | list[str | SendSpec] | msgspec.UnsetType | None = msgspec.UNSET


class CheckpointConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Which checkpoint to start (or fork) the run from."""

    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    checkpoint_map: JsonObject | None = None


class LangSmithTracer(msgspec.Struct, kw_only=True):
    project_name: str | None = None
    example_id: str | None = None


class RunCreate(msgspec.Struct, kw_only=True):
    """Fields every run-creating endpoint accepts (the SDK sends the same body to create, stream and wait)."""

    assistant_id: str
    input: Any = None
    command: RunCommand | None = None
    metadata: JsonObject | None = None
    config: JsonObject | None = None
    context: JsonObject | None = None
    webhook: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    feedback_keys: list[str] | None = None
    after_seconds: AfterSeconds = 0
    checkpoint_during: bool | None = None
    durability: Durability | None = None
    on_disconnect: Literal["cancel", "continue"] = "continue"
    if_not_exists: Literal["create", "reject"] = "reject"
    strict_resume: bool | None = None
    langsmith_tracer: LangSmithTracer | None = None


class RunCreateStateful(RunCreate, kw_only=True):
    """`POST /threads/{thread_id}/runs[/stream|/wait]`."""

    checkpoint: CheckpointConfig | None = None
    checkpoint_id: str | None = None
    multitask_strategy: MultitaskStrategy = "enqueue"


class RunCreateStateless(RunCreate, kw_only=True):
    """`POST /runs[/stream|/wait|/batch]`: runs on a throwaway thread unless `on_completion="keep"`."""

    on_completion: Literal["delete", "keep"] = "delete"


class Run(msgspec.Struct, kw_only=True):
    """A run as langgraph-api returns it (field order included)."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    metadata: JsonObject
    status: RunStatus
    kwargs: JsonObject
    multitask_strategy: MultitaskStrategy
    created_at: str
    updated_at: str
    langsmith_session_name: str | None = None


class RunsCancel(msgspec.Struct, kw_only=True):
    """`POST /runs/cancel`: either `thread_id` + `run_ids`, or a `status` (pending, running or all)."""

    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None
