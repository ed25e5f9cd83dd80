"""The `extract` of a thread search: paths such as `values.messages[-1].content`, parsed, then followed into each
thread found (the values land in its `extracted`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aegra.errors import UnprocessableError
from aegra.schemas.threads import Thread

MAX_EXTRACT_PATHS = 10
EXTRACT_ROOTS = ("values", "metadata", "config", "interrupts")
_PATH_SEGMENT = re.compile(r"^([^\[\]]+)((?:\[-?\d+\])*)$")
_PATH_INDEX = re.compile(r"\[(-?\d+)\]")


def parse_extract_path(path: str) -> list[str | int]:
    """`values.messages[-1].content` → ["values", "messages", -1, "content"]; 422 for anything else."""
    steps: list[str | int] = []
    for segment in path.split("."):
        match = _PATH_SEGMENT.match(segment)
        if match is None:
            raise UnprocessableError(f"Invalid extract path {path!r}: use dots for keys and [n] for list indexes")
        steps.append(match.group(1))
        steps.extend(int(index) for index in _PATH_INDEX.findall(match.group(2)))
    if steps[0] not in EXTRACT_ROOTS:
        raise UnprocessableError(f"Invalid extract path {path!r}: must start with one of {list(EXTRACT_ROOTS)}")
    return steps


def extract_value(document: Mapping[str, Any], steps: Sequence[str | int]) -> Any:
    """Follow a parsed extract path; None where the path does not exist."""
    current: Any = document
    for step in steps:
        if isinstance(step, int):
            found = isinstance(current, list) and -len(current) <= step < len(current)
        else:
            found = isinstance(current, Mapping) and step in current
        if not found:
            return None
        current = current[step]
    return current


def parse_extract(extract: Mapping[str, str] | None) -> dict[str, list[str | int]]:
    """A search's `extract` (alias → path), its paths parsed; 422 for too many or a malformed one."""
    if not extract:
        return {}
    if len(extract) > MAX_EXTRACT_PATHS:
        raise UnprocessableError(f"Too many extract paths: at most {MAX_EXTRACT_PATHS} are allowed")
    return {alias: parse_extract_path(path) for alias, path in extract.items()}


def with_extract(thread: Thread, extract: Mapping[str, Sequence[str | int]]) -> Thread:
    """The thread with `extracted`: each alias's value in it (None where its path leads nowhere)."""
    if not extract:
        return thread
    document = {
        "values": thread.values,
        "metadata": thread.metadata,
        "config": thread.config,
        "interrupts": thread.interrupts,
    }
    thread.extracted = {alias: extract_value(document, steps) for alias, steps in extract.items()}
    return thread
