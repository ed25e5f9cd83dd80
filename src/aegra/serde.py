"""Serialization: JSON encoding of everything a graph can put in state or stream (LangChain messages, pydantic
models, dataclasses, Interrupts, UUIDs, datetimes; orjson on the hot path, never the stdlib `json`), and the strict
checkpoint serializer, which revives only allow-listed types from a checkpoint."""

from __future__ import annotations

import dataclasses
import enum
import functools
import typing
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from langchain_core import messages as lc
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.pregel import Pregel
from langgraph.types import Send
from pydantic import BaseModel
from typing_extensions import is_typeddict

from aegra.graphs.compiled import CompiledGraph

SaverT = TypeVar("SaverT", bound=BaseCheckpointSaver[Any])

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

# Messages whose fields are plain data with no aliases, exclusions or serializers: their `__dict__` (fields in
# declaration order) encodes to what `model_dump(mode="json")` gives, without a pydantic round trip per token.
# Not ToolMessage: its `artifact` may hold anything.
_PLAIN_MESSAGE_TYPES: tuple[type[BaseModel], ...] = (
    lc.AIMessage,
    lc.AIMessageChunk,
    lc.ChatMessage,
    lc.ChatMessageChunk,
    lc.HumanMessage,
    lc.HumanMessageChunk,
    lc.SystemMessage,
    lc.SystemMessageChunk,
)
_PLAIN_MESSAGES = frozenset(_PLAIN_MESSAGE_TYPES)


def _default(obj: Any) -> Any:
    """Fallback for types orjson does not know; mirrors how langgraph-api serializes state."""
    if type(obj) in _PLAIN_MESSAGES and not obj.__pydantic_extra__:
        return obj.__dict__
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
    """Encode any state/stream value to compact JSON bytes, sized to fit: orjson (3.12 on) hands back its whole
    write buffer, at least 4 KiB and grown by doubling, behind every result, and these are kept (a run's events,
    its output), so a copy of just the encoded bytes is what is returned."""
    return bytes(memoryview(orjson.dumps(obj, default=_default, option=_OPTIONS)))


def to_jsonable(obj: Any) -> Any:
    """Round-trip through JSON: plain dicts/lists/scalars only (for JSONB columns and msgspec responses)."""
    return orjson.loads(orjson.dumps(obj, default=_default, option=_OPTIONS))


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


# -- checkpoints ---------------------------------------------------------------------------------------------------


def checkpoint_serializer() -> JsonPlusSerializer:
    """LangGraph's checkpoint serializer in strict mode: a checkpoint revives only LangGraph's safe types (messages,
    documents, Send/Interrupt/Command, datetimes, UUIDs, decimals, paths, ...) and those a graph's state declares
    (added per graph by `allow_state_types`). Any other type stored in a checkpoint comes back as its plain data,
    never imported or called, so whoever can write to the checkpoint tables cannot make the server run code."""
    return JsonPlusSerializer(allowed_msgpack_modules=None)


def allow_state_types(checkpointer: SaverT, graph: CompiledGraph) -> SaverT:
    """The checkpointer, reviving also the pydantic models, dataclasses and enums `graph`'s state declares."""
    types = state_types(graph)
    clone = checkpointer.with_allowlist(types) if types else checkpointer
    return clone  # type: ignore[return-value]  # with_allowlist clones the same class but is typed as the base


def state_types(graph: CompiledGraph) -> set[tuple[str, str]]:
    """`(module, name)` of every pydantic model, dataclass and enum that the state, input, output and context
    schemas and the channels of `graph` and its subgraphs name, however nested (lists, unions, TypedDicts, ...)."""
    found: set[tuple[str, str]] = set()
    subgraphs = (subgraph for _, subgraph in graph.get_subgraphs(recurse=True) if isinstance(subgraph, Pregel))
    for pregel in (graph, *subgraphs):
        for annotation in _schemas(pregel):
            if annotation is None:
                continue
            try:
                hash(annotation)
            except TypeError:  # unhashable metadata inside the annotation: walk it without the memo
                found |= _walk(annotation)
            else:
                found |= _types_in(annotation)
    return found


def _walk(annotation: Any) -> frozenset[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    _collect(annotation, found, set())
    return frozenset(found)


# Memoized per annotation (type hints are immutable): resolving a message class's fields costs about a millisecond,
# and a run's graph is bound to its checkpointer on every run.
_types_in = functools.lru_cache(maxsize=4096)(_walk)


def _schemas(graph: CompiledGraph) -> Iterable[Any]:
    builder = getattr(graph, "builder", None)  # a compiled StateGraph keeps the schemas it was built from
    if builder is not None:
        yield from (getattr(builder, name, None) for name in ("state_schema", "input_schema", "output_schema"))
        yield getattr(builder, "context_schema", None)
        for node in getattr(builder, "nodes", {}).values():
            yield getattr(node, "input_schema", None)
    for channel in graph.channels.values():
        for name in ("ValueType", "UpdateType"):
            try:
                yield getattr(channel, name)
            except (AttributeError, TypeError, ValueError):  # some channels only know their type once written
                continue


def _collect(annotation: Any, found: set[tuple[str, str]], seen: set[int]) -> None:
    if annotation is None or id(annotation) in seen:
        return
    seen.add(id(annotation))
    if (supertype := getattr(annotation, "__supertype__", None)) is not None:  # NewType
        _collect(supertype, found, seen)
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return
    if origin is typing.Annotated:
        _collect(typing.get_args(annotation)[0], found, seen)  # the metadata holds reducers, not types
        return
    if origin is not None:
        for argument in typing.get_args(annotation):
            _collect(argument, found, seen)
        _collect(origin, found, seen)  # a generic pydantic model or dataclass
        return
    if not isinstance(annotation, type):
        return
    if is_typeddict(annotation):
        for hint in _field_types(annotation):
            _collect(hint, found, seen)
    elif issubclass(annotation, enum.Enum):
        found.add((annotation.__module__, annotation.__name__))
    elif issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation):
        found.add((annotation.__module__, annotation.__name__))
        for hint in _field_types(annotation):
            _collect(hint, found, seen)


def _field_types(cls: type) -> Iterable[Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True).values()
    except (NameError, TypeError, AttributeError):  # a forward reference that does not resolve
        if issubclass(cls, BaseModel):
            return [field.annotation for field in cls.model_fields.values()]
        if dataclasses.is_dataclass(cls):
            return [field.type for field in dataclasses.fields(cls)]
        return []
