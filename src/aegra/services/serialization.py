"""Wire formats shared by every resource."""

from __future__ import annotations

from datetime import datetime


def iso(value: datetime) -> str:
    """Timestamps as langgraph-api writes them: microseconds and `+00:00`."""
    return value.isoformat(timespec="microseconds")
