"""Request and response bodies of `/threads` and thread state."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, cast, get_args

import msgspec

from aegra.schemas.common import MAX_TTL_MINUTES, JsonObject, Page, SortOrder
from aegra.schemas.status import ThreadStatus

ThreadField = Literal[
    "thread_id", "created_at", "updated_at", "state_updated_at", "metadata", "config", "status", "values",
    "interrupts", "error",
]  # fmt: skip
ThreadSortField = Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"]
TtlStrategy = Literal["delete", "keep_latest"]
ThreadStreamMode = Literal["run_modes", "lifecycle", "state_update"]
TtlMinutes = Annotated[
    float,
    msgspec.Meta(
        gt=0, le=MAX_TTL_MINUTES, description="Minutes of inactivity before the thread expires (at most 100 years)."
    ),
]
HistoryLimit = Annotated[int, msgspec.Meta(ge=1, le=1000, description="Checkpoints to return (1-1000).")]


class ThreadTtl(msgspec.Struct, kw_only=True):
    """`ttl` on create/update: what to do with a thread after `ttl` minutes without activity."""

    ttl: TtlMinutes
    strategy: TtlStrategy = "delete"


class ThreadTtlInfo(msgspec.Struct, kw_only=True):
    """The TTL of a thread as `GET /threads/{id}?include=ttl` shows it."""

    strategy: TtlStrategy
    ttl_minutes: float
    expires_at: str


class Thread(msgspec.Struct, kw_only=True):
    """A thread: metadata plus a cached view (status, values, interrupts) of its latest checkpoint."""

    thread_id: uuid.UUID
    created_at: str
    updated_at: str
    state_updated_at: str
    metadata: JsonObject
    status: ThreadStatus
    config: JsonObject
    values: Any
    interrupts: dict[str, list[JsonObject]]
    error: Any
    ttl: ThreadTtlInfo | msgspec.UnsetType = msgspec.UNSET
    extracted: JsonObject | msgspec.UnsetType = msgspec.UNSET


class SuperstepUpdate(msgspec.Struct, kw_only=True):
    """One write of a superstep: `values` (or a `command`) applied as if `as_node` returned it."""

    as_node: str
    values: Any = None
    command: JsonObject | None = None


class Superstep(msgspec.Struct, kw_only=True):
    updates: list[SuperstepUpdate]


class ThreadCreate(msgspec.Struct, kw_only=True):
    thread_id: uuid.UUID | None = None
    metadata: JsonObject | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    supersteps: list[Superstep] | None = None
    ttl: ThreadTtl | None = None


class ThreadUpdate(msgspec.Struct, kw_only=True):
    """PATCH body: `metadata` is merged into the thread's; `ttl` replaces its TTL."""

    metadata: JsonObject | None = None
    ttl: ThreadTtl | None = None


class ThreadSearch(Page, kw_only=True):
    ids: list[uuid.UUID] | None = None
    metadata: JsonObject | None = None
    values: JsonObject | None = None
    status: ThreadStatus | None = None
    sort_by: ThreadSortField | None = None
    order_by: str | None = None
    select: list[ThreadField] | None = None
    extract: dict[str, str] | None = None

    def __post_init__(self) -> None:
        """Aegra's `order_by: "<field> [ASC|DESC]"` is read as `sort_by` + `sort_order`, which win when given too."""
        if self.order_by is None:
            return
        field, _, direction = self.order_by.strip().partition(" ")
        direction = direction.strip().lower() or "asc"
        if field not in get_args(ThreadSortField) or direction not in get_args(SortOrder):
            raise ValueError(
                f"Invalid order_by {self.order_by!r}: expected '<field> [ASC|DESC]' with a field among "
                f"{', '.join(get_args(ThreadSortField))}"
            )
        self.sort_by = self.sort_by or cast("ThreadSortField", field)
        self.sort_order = self.sort_order or cast("SortOrder", direction)


class ThreadCount(msgspec.Struct, kw_only=True):
    metadata: JsonObject | None = None
    values: JsonObject | None = None
    status: ThreadStatus | None = None


class ThreadPrune(msgspec.Struct, kw_only=True):
    thread_ids: list[uuid.UUID]
    strategy: TtlStrategy = "delete"


class PruneResult(msgspec.Struct, kw_only=True):
    pruned_count: int


class CheckpointRef(msgspec.Struct, kw_only=True):
    """A checkpoint named by a client: its id and namespace (the thread comes from the path)."""

    checkpoint_id: str | None = None
    checkpoint_ns: str = ""
    thread_id: str | None = None
    checkpoint_map: JsonObject | None = None


class StateAtCheckpoint(msgspec.Struct, kw_only=True):
    """`POST /threads/{id}/state/checkpoint`."""

    checkpoint: CheckpointRef
    subgraphs: bool = False
    select: list[str] | None = None


class StateUpdate(msgspec.Struct, kw_only=True):
    """`POST /threads/{id}/state`: apply `values` as if `as_node` returned them (on top of `checkpoint`)."""

    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None


class HistorySearch(msgspec.Struct, kw_only=True):
    """`POST /threads/{id}/history`: newest first, optionally `before` a checkpoint or filtered by metadata."""

    limit: HistoryLimit = 10
    before: str | CheckpointRef | None = None
    metadata: JsonObject | None = None
    checkpoint: CheckpointRef | None = None
    select: list[str] | None = None


class Checkpoint(msgspec.Struct, kw_only=True):
    """A checkpoint of a thread, as state responses name it (`checkpoint_ns`/`checkpoint_map` when it has them)."""

    checkpoint_id: str
    thread_id: str
    checkpoint_ns: str | msgspec.UnsetType = msgspec.UNSET
    checkpoint_map: JsonObject | msgspec.UnsetType | None = msgspec.UNSET


class Interrupt(msgspec.Struct, kw_only=True):
    """A pending `interrupt()`: its id and value (and the schema of the answer, when the graph declared one)."""

    id: str | None
    value: Any
    response_schema: JsonObject | msgspec.UnsetType = msgspec.UNSET


class ThreadTask(msgspec.Struct, kw_only=True):
    """A task of the next step: the node to run, its error or interrupts, and a subgraph's own state (`state`, with
    `subgraphs=true`) or checkpoint."""

    id: str
    name: str
    path: list[Any]
    error: Any
    interrupts: list[Interrupt]
    checkpoint: JsonObject | None
    state: ThreadState | None
    result: Any


class ThreadState(msgspec.Struct, kw_only=True):
    """A thread's state at a checkpoint. With `select`, only the selected fields are sent."""

    values: Any | msgspec.UnsetType = msgspec.UNSET
    next: list[str] | msgspec.UnsetType = msgspec.UNSET
    tasks: list[ThreadTask] | msgspec.UnsetType = msgspec.UNSET
    metadata: JsonObject | msgspec.UnsetType | None = msgspec.UNSET
    created_at: str | msgspec.UnsetType | None = msgspec.UNSET
    checkpoint: Checkpoint | msgspec.UnsetType | None = msgspec.UNSET
    parent_checkpoint: Checkpoint | msgspec.UnsetType | None = msgspec.UNSET
    interrupts: list[Interrupt] | msgspec.UnsetType = msgspec.UNSET
    checkpoint_id: str | msgspec.UnsetType | None = msgspec.UNSET  # deprecated flat ids, still sent
    parent_checkpoint_id: str | msgspec.UnsetType | None = msgspec.UNSET


class ThreadUpdateStateResponse(msgspec.Struct, kw_only=True):
    """`POST /threads/{id}/state`: the checkpoint the update wrote."""

    checkpoint: JsonObject
    configurable: JsonObject
    checkpoint_id: str
