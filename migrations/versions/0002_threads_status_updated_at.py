"""threads: (status, updated_at) index instead of (status)

Thread search filtered by `status` and sorted by recency walks this index in order, so a status filter that
matches few (or no) threads never scans the whole table. It also serves plain status lookups.

Revision ID: 0002_threads_status_updated_at
Revises: 0001
Create Date: 2026-11-25 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_threads_status_updated_at"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_threads_status_updated_at", "threads", ["status", "updated_at"], unique=False)
    op.drop_index("ix_threads_status", table_name="threads")


def downgrade() -> None:
    op.create_index("ix_threads_status", "threads", ["status"], unique=False)
    op.drop_index("ix_threads_status_updated_at", table_name="threads")
