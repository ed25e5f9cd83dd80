"""JSON encoding of everything a graph can put in state or stream: LangChain messages, pydantic models,
dataclasses, Interrupts, UUIDs, datetimes. orjson on the hot path, never the stdlib `json`."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
from langgraph.types import Send
from pydantic import BaseModel

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(obj: Any) -> Any:
    """Fallback for types orjson does not know; mirrors how langgraph-api serializes state."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, Send):
        return {"node": obj.node, "arg": obj.arg}
    if hasattr(obj, "to_json") and hasattr(obj, "lc_serializable"):
        # LangChain Serializable that is not a pydantic model.
        return obj.to_json()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)}
    if _is_namedtuple(obj):
        return obj._asdict()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, datetime | date | time):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, bytes | bytearray):
        return obj.decode("utf-8", errors="replace")
    if isinstance(obj, Exception):
        return {"error": type(obj).__name__, "message": str(obj)}
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "__dict__"):
        return {key: value for key, value in vars(obj).items() if not key.startswith("_")}
    return repr(obj)


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_asdict") and hasattr(obj, "_fields")


def dumps(obj: Any) -> bytes:
    """Encode any state/stream value to compact JSON bytes."""
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def to_jsonable(obj: Any) -> Any:
    """Round-trip through JSON: plain dicts/lists/scalars only (for JSONB columns and msgspec responses)."""
    return orjson.loads(dumps(obj))


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
