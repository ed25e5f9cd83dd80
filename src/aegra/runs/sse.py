"""Server-sent events, byte for byte as langgraph-api frames them: CRLF line ends, `event`, `data`, then `id`
(only for resumable runs), a blank line; keep-alives are `: heartbeat` comments. There is no `end` event: the
stream simply closes when the run is done."""

from __future__ import annotations

from typing import Final

CRLF: Final = b"\r\n"
HEARTBEAT: Final = b": heartbeat\r\n\r\n"
HEARTBEAT_SECONDS: Final = 5.0
# Litestar appends `; charset=utf-8`, giving langgraph-api's exact content type.
MEDIA_TYPE: Final = "text/event-stream"
# `no-store` and `X-Accel-Buffering: no` keep proxies (nginx) from buffering the stream.
HEADERS: Final = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _field(value: str) -> bytes:
    """An event name or id on one line: CR and LF would end the field early, so they are dropped."""
    return value.replace("\r", "").replace("\n", "").encode()


def encode_event(event: str, data: bytes, event_id: str | None = None) -> bytes:
    """One SSE block; `data` is already-encoded compact JSON (it never contains a raw newline)."""
    parts = [b"event: ", _field(event), CRLF, b"data: ", data, CRLF]
    if event_id is not None:
        parts += [b"id: ", _field(event_id), CRLF]
    parts.append(CRLF)
    return b"".join(parts)
