"""ORM models of Aegra's own metadata tables (checkpoints and the store belong to LangGraph)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONB, uuid.UUID: UUID(as_uuid=True), datetime: DateTime(timezone=True)}


def _json_default() -> Any:
    return text("'{}'::jsonb")


class Assistant(Base):
    """The latest version of an assistant (a graph plus its config); versions live in `assistant_versions`."""

    __tablename__ = "assistants"

    assistant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    graph_id: Mapped[str] = mapped_column(Text, index=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(server_default=_json_default())
    context: Mapped[dict[str, Any]] = mapped_column(server_default=_json_default())
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", server_default=_json_default())
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"), onupdate=utcnow)

    __table_args__ = (Index("ix_assistants_metadata_gin", "metadata", postgresql_using="gin"),)


class AssistantVersion(Base):
    """An immutable snapshot of an assistant at one version."""

    __tablename__ = "assistant_versions"

    assistant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assistants.assistant_id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    graph_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(server_default=_json_default())
    context: Mapped[dict[str, Any]] = mapped_column(server_default=_json_default())
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", server_default=_json_default())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))

    __table_args__ = (PrimaryKeyConstraint("assistant_id", "version"),)


class Thread(Base):
    """A conversation: metadata plus a cached view (status, values, interrupts) of its latest checkpoint."""

    __tablename__ = "threads"

    thread_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", server_default=_json_default())
    config: Mapped[dict[str, Any]] = mapped_column(server_default=_json_default())
    status: Mapped[str] = mapped_column(Text, server_default=text("'idle'"))
    values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    interrupts: Mapped[dict[str, Any]] = mapped_column(server_default=_json_default())
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ttl_strategy: Mapped[str | None] = mapped_column(Text)
    ttl_minutes: Mapped[float | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"), index=True)
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("now()"), onupdate=utcnow, index=True
    )
    state_updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))

    __table_args__ = (
        Index(
            "ix_threads_metadata_gin", "metadata", postgresql_using="gin", postgresql_ops={"metadata": "jsonb_path_ops"}
        ),
        Index("ix_threads_values_gin", "values", postgresql_using="gin", postgresql_ops={"values": "jsonb_path_ops"}),
        Index("ix_threads_status_updated_at", "status", "updated_at"),
    )


class Run(Base):
    """One execution of an assistant on a thread; a row first, then claimed and executed by a worker."""

    __tablename__ = "runs"

    run_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("threads.thread_id", ondelete="CASCADE"))
    assistant_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", server_default=_json_default())
    kwargs: Mapped[dict[str, Any]] = mapped_column(server_default=_json_default())
    multitask_strategy: Mapped[str] = mapped_column(Text, server_default=text("'enqueue'"))
    attempt: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    worker_id: Mapped[str | None] = mapped_column(Text)
    reserved_for: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    available_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    temporary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"), onupdate=utcnow)

    __table_args__ = (
        Index("ix_runs_thread_id_created_at", "thread_id", "created_at"),
        Index(
            "ix_runs_pending_available_at",
            "available_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_runs_running_lease", "lease_expires_at", postgresql_where=text("status = 'running'")),
        # The claim: pending runs in queue order, and a thread's pending and running runs (0005_claim_indexes).
        Index("ix_runs_pending_created_at", "created_at", "run_id", postgresql_where=text("status = 'pending'")),
        Index("ix_runs_active_thread_id", "thread_id", postgresql_where=text("status IN ('pending', 'running')")),
    )


class RunEvent(Base):
    """A stream event of a run, kept for `Last-Event-ID` replay (resumable streams and join)."""

    __tablename__ = "run_events"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"), index=True)

    __table_args__ = (PrimaryKeyConstraint("run_id", "seq"),)


class Cron(Base):
    """A schedule that creates runs."""

    __tablename__ = "crons"

    cron_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    assistant_id: Mapped[uuid.UUID | None] = mapped_column()
    thread_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("threads.thread_id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(Text)
    schedule: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str | None] = mapped_column(Text)
    end_time: Mapped[datetime | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(server_default=_json_default())
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", server_default=_json_default())
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    on_run_completed: Mapped[str | None] = mapped_column(Text)
    next_run_date: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"), onupdate=utcnow)

    __table_args__ = (Index("ix_crons_due", "next_run_date", postgresql_where=text("enabled")),)
