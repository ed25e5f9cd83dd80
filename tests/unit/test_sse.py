"""SSE framing, byte for byte as langgraph-api writes it (see research/wire 04v)."""

from __future__ import annotations

from aegra.runs import sse


def test_event_is_event_then_data_then_blank_line_with_crlf() -> None:
    framed = sse.encode_event("metadata", b'{"run_id":"r","attempt":1}')

    assert framed == b'event: metadata\r\ndata: {"run_id":"r","attempt":1}\r\n\r\n'


def test_id_line_comes_after_data() -> None:
    framed = sse.encode_event("values", b"{}", "7")

    assert framed == b"event: values\r\ndata: {}\r\nid: 7\r\n\r\n"


def test_line_breaks_in_names_and_ids_are_dropped() -> None:
    framed = sse.encode_event("bad\r\nevent", b"1", "1\n2")

    assert framed == b"event: badevent\r\ndata: 1\r\nid: 12\r\n\r\n"


def test_subgraph_event_names_keep_their_namespace() -> None:
    framed = sse.encode_event("updates|child:53587c64-a45e-182f-b94d-1a105c62b3c6", b"{}")

    assert framed.startswith(b"event: updates|child:53587c64-a45e-182f-b94d-1a105c62b3c6\r\n")


def test_heartbeat_is_an_sse_comment() -> None:
    assert sse.HEARTBEAT == b": heartbeat\r\n\r\n"
