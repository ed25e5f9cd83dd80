"""Wire formats shared by every resource."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime) -> str:
    """Timestamps as langgraph-api writes them: `+00:00`, microseconds when non-zero."""
    return value.astimezone(UTC).isoformat()
