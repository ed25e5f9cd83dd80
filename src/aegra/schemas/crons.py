"""Request and response bodies of `/runs/crons` and `/threads/{thread_id}/runs/crons`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from aegra.schemas.common import JsonObject, Page
from aegra.schemas.runs import Durability, MultitaskStrategy

CronField = Literal[
    "cron_id", "assistant_id", "thread_id", "end_time", "schedule", "created_at", "updated_at", "user_id",
    "payload", "next_run_date", "metadata", "enabled", "on_run_completed", "timezone",
]  # fmt: skip
CronSortField = Literal["cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"]
OnRunCompleted = Literal["delete", "keep"]


class Cron(msgspec.Struct, kw_only=True):
    """A schedule that creates runs."""

    cron_id: uuid.UUID
    assistant_id: uuid.UUID | None
    thread_id: uuid.UUID | None
    user_id: str
    end_time: str | None
    schedule: str
    timezone: str | None
    payload: JsonObject
    next_run_date: str | None
    metadata: JsonObject
    on_run_completed: str | None
    enabled: bool
    created_at: str
    updated_at: str


class CronCreate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Body of cron creation; the run fields are kept as the payload of every run it creates."""

    assistant_id: str
    schedule: str
    input: Any = None
    metadata: JsonObject | None = None
    config: JsonObject | None = None
    context: JsonObject | None = None
    checkpoint_during: bool | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = None
    multitask_strategy: MultitaskStrategy | None = None
    end_time: datetime | None = None
    enabled: bool | None = None
    timezone: str | None = None
    stream_mode: str | list[str] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Durability | None = None
    on_run_completed: OnRunCompleted | None = None


class CronUpdate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """PATCH body: every field optional; `end_time: null` clears the end time."""

    schedule: str | msgspec.UnsetType = msgspec.UNSET
    end_time: datetime | msgspec.UnsetType | None = msgspec.UNSET
    input: Any | msgspec.UnsetType = msgspec.UNSET
    metadata: JsonObject | msgspec.UnsetType = msgspec.UNSET
    config: JsonObject | msgspec.UnsetType = msgspec.UNSET
    context: JsonObject | msgspec.UnsetType = msgspec.UNSET
    webhook: str | msgspec.UnsetType | None = msgspec.UNSET
    interrupt_before: Literal["*"] | list[str] | msgspec.UnsetType | None = msgspec.UNSET
    interrupt_after: Literal["*"] | list[str] | msgspec.UnsetType | None = msgspec.UNSET
    on_run_completed: OnRunCompleted | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    timezone: str | msgspec.UnsetType | None = msgspec.UNSET
    stream_mode: str | list[str] | msgspec.UnsetType | None = msgspec.UNSET
    stream_subgraphs: bool | msgspec.UnsetType | None = msgspec.UNSET
    stream_resumable: bool | msgspec.UnsetType | None = msgspec.UNSET
    durability: Durability | msgspec.UnsetType | None = msgspec.UNSET
    multitask_strategy: MultitaskStrategy | msgspec.UnsetType | None = msgspec.UNSET
    assistant_id: str | msgspec.UnsetType = msgspec.UNSET


class CronSearch(Page, kw_only=True):
    assistant_id: str | None = None
    thread_id: uuid.UUID | None = None
    enabled: bool | None = None
    metadata: JsonObject | None = None
    sort_by: CronSortField | None = None
    select: list[CronField] | None = None


class CronCount(msgspec.Struct, kw_only=True):
    assistant_id: str | None = None
    thread_id: uuid.UUID | None = None
    metadata: JsonObject | None = None
