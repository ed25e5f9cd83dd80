"""Client input PostgreSQL cannot hold, refused with a 422 before any handler sees it.

PostgreSQL `text` and `jsonb` cannot store U+0000, `bigint` (and orjson, which encodes our `jsonb`) stops at
64 bits, and orjson stops at 255 levels of nesting. Any string or integer of a request can end up in such a column
(metadata, config, run input, store values, filters, ids), so the check runs once per request, on the decoded JSON,
instead of in every service.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from litestar import Request
from litestar.exceptions import SerializationException

from aegra.errors import UnprocessableError
from aegra.schemas.common import INT64_MAX, INT64_MIN

# How U+0000 appears in JSON text (a raw NUL byte is not valid JSON, so the decoder refuses it already).
JSON_NUL = b"\\u0000"
# A JSON integer beyond 64 bits has at least 19 digits. Finding neither this nor `\u0000` in the raw body, and
# fewer brackets than the depth limit, takes a few C-speed scans, so most requests never pay for the walk over
# their decoded values (which costs less than decoding them did).
LONG_DIGIT_RUN = re.compile(rb"\d{19}")
# orjson, which writes our `jsonb` values, refuses to nest deeper than 255; the rest is headroom for the levels
# Aegra wraps around a client's value (run kwargs, checkpoints).
MAX_JSON_DEPTH = 128
MAX_PATH_PARTS = 8
NUL_STRING = "Strings must not contain NUL characters (\\u0000)"
NUL_KEY = "Object keys must not contain NUL characters (\\u0000)"
INT_RANGE = f"Integers must fit in 64 bits ({INT64_MIN} to {INT64_MAX})"
TOO_DEEP = f"JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
NUL_PARAMETER = "Path and query parameters must not contain NUL characters (%00)"
# SQLSTATE class 22, "data exception": a value the database refuses (bad text, a number out of range, ...).
DATA_EXCEPTION_CLASS = "22"

# asyncpg's words for a parameter it cannot encode: `invalid input for query argument $7: <value> (<reason>)`.
DRIVER_ARGUMENT_ERROR = re.compile(r"^invalid input for query argument \$\d+: .* \((?P<reason>[^()]*)\)$")

Location = tuple["Location", str | int] | None


def find_unstorable(value: Any) -> str | None:
    """The first string or key with U+0000, integer beyond 64 bits or container nested deeper than
    `MAX_JSON_DEPTH` in `value`, as a message with its JSON path; None when all of it can be stored. Iterative, so
    the walk itself has no depth limit."""
    # Each entry: (where, item, depth); `where` is (parent's where, key or index), made a path only on failure.
    pending: list[tuple[Location, Any, int]] = [(None, value, 0)]
    while pending:
        where, item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return f"{NUL_STRING} (at `{json_path(where)}`)"
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return f"{INT_RANGE} (at `{json_path(where)}`)"
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return f"{TOO_DEEP} (at `{json_path(where)}`)"
            if isinstance(item, list):
                pending.extend(((where, index), child, depth + 1) for index, child in enumerate(item))
                continue
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return f"{NUL_KEY} (at `{json_path(where)}`)"
                pending.append(((where, key), child, depth + 1))
    return None


def json_path(where: Location) -> str:
    """`$.metadata.tags[2]` for the location of a value in the decoded body (its first `MAX_PATH_PARTS` steps)."""
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    parts.reverse()
    shown = "".join(parts[:MAX_PATH_PARTS])
    return f"${shown}..." if len(parts) > MAX_PATH_PARTS else f"${shown}"


def might_be_unstorable(body: bytes) -> bool:
    """Whether the raw body could hold something `find_unstorable` refuses (false positives only)."""
    return (
        JSON_NUL in body
        or LONG_DIGIT_RUN.search(body) is not None
        or body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    )


async def reject_unstorable_input(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook: 422 for NUL in the path, the query or the JSON body, and for integers beyond 64 bits
    or nesting beyond `MAX_JSON_DEPTH` in the body. The decoded body is cached on the request, so the handler does
    not decode it again. (Litestar runs only the innermost layer's `before_request`: keep this the only one.)"""
    if "\x00" in request.scope["path"] or b"%00" in request.scope.get("query_string", b""):
        raise UnprocessableError(NUL_PARAMETER)
    body = await request.body()
    if not might_be_unstorable(body):
        return
    try:
        value = await request.json()
    except SerializationException:
        return  # malformed JSON: the handler's decoding reports it in the usual words
    problem = find_unstorable(value)
    if problem is not None:
        raise UnprocessableError(problem)


def client_data_error(exc: BaseException) -> str | None:
    """The database's message when `exc` is a data exception (SQLSTATE class 22) or psycopg's refusal of a value:
    the request's values were at fault, not the server. None for anything else (connection trouble included)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(current, psycopg.DataError) or (
            isinstance(sqlstate, str) and sqlstate.startswith(DATA_EXCEPTION_CLASS)
        ):
            lines = str(current).strip().splitlines()
            message = lines[0] if lines else "invalid value"
            argument = DRIVER_ARGUMENT_ERROR.match(message)
            return argument["reason"] if argument else message
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None
