"""Ids taken from paths and bodies."""

from __future__ import annotations

import uuid

from aegra.errors import UnprocessableError


def parse_uuid(raw: str, resource: str) -> uuid.UUID:
    """Parse a path id; anything but a UUID is a 422 naming the resource, like langgraph-api."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise UnprocessableError(f"Invalid {resource} ID: must be a UUID") from None
