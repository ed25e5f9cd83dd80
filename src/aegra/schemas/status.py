"""The status of each resource, one enum per resource: what the API sends and the rows hold (the values are the
strings langgraph-api uses, so a row's plain `str` compares equal to its member)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RunStatus(StrEnum):
    """A run: queued (`pending`), executing (`running`), then how it ended."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"


# Runs not ended yet: a thread with one is busy, and only these can be cancelled.
INFLIGHT: Final = (RunStatus.PENDING, RunStatus.RUNNING)
# Endings that carry an error (`{"__error__": ...}` instead of values).
FAILED: Final = (RunStatus.ERROR, RunStatus.TIMEOUT)


class ThreadStatus(StrEnum):
    """A thread follows its runs: `busy` while one is in flight, then how the last one left it."""

    IDLE = "idle"
    BUSY = "busy"
    INTERRUPTED = "interrupted"
    ERROR = "error"
