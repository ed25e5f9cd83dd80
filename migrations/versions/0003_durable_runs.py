"""runs: `reserved_for` (the process serving the client that created the run); run_events: `created_at` index

A run created by `stream`/`wait` is reserved for a moment for the process whose client follows it. Keeping that
apart from `worker_id` (the process executing the run) lets the executor know when its run's follower sits in
another process, so it keeps and announces the run's events for it. The `run_events.created_at` index serves
the sweep that bounds how long events of ended runs are kept.

Revision ID: 0003_durable_runs
Revises: 0002_threads_status_updated_at
Create Date: 2026-11-25 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_durable_runs"
down_revision: str | None = "0002_threads_status_updated_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("reserved_for", sa.Text(), nullable=True))
    op.execute("UPDATE runs SET reserved_for = worker_id, worker_id = NULL WHERE status = 'pending'")
    op.create_index("ix_run_events_created_at", "run_events", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_run_events_created_at", table_name="run_events")
    op.execute("UPDATE runs SET worker_id = reserved_for WHERE status = 'pending'")
    op.drop_column("runs", "reserved_for")
