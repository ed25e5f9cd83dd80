"""Run events → v3 protocol events (pure): messages token by token, interrupts, endings, tools, namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from aegra import serde
from aegra.runs.events import StreamEvent
from aegra.runs.protocol import ProtocolEvent, RunTranslator
from aegra.runs.thread_events import StreamFilter

pytestmark = pytest.mark.unit


def _chunk(text: str, message_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "AIMessageChunk", "id": message_id, "content": text, "tool_call_chunks": [], **extra}


def _feed(translator: RunTranslator, *events: tuple[str, Any]) -> list[ProtocolEvent]:
    out: list[ProtocolEvent] = []
    for seq, (name, data) in enumerate(events):
        out += translator.event(StreamEvent(seq, name, serde.dumps(data)))
    return out


def _kinds(events: list[ProtocolEvent]) -> list[str]:
    return [event.data.get("event", event.method) for event in events]


def test_tokens_become_one_delta_each_and_the_closing_chunk_finishes_the_message() -> None:
    translator = RunTranslator("run")

    events = _feed(
        translator,
        ("metadata", {"run_id": "run"}),
        ("messages", [_chunk("a", "m1"), {"langgraph_node": "speak"}]),
        ("messages", [_chunk("b", "m1"), {}]),
        ("messages", [_chunk("", "lc_run--other", chunk_position="last"), {}]),
        ("updates", {"speak": {"messages": [{"type": "ai", "id": "m1", "content": "ab"}]}}),
    ) + translator.end("success")

    assert _kinds(events) == [
        "running",
        "message-start",
        "content-block-start",
        "content-block-delta",
        "content-block-delta",
        "content-block-finish",
        "message-finish",
        "updates",
        "completed",
    ]
    assert events[1].data["metadata"] == {"langgraph_node": "speak"}
    assert events[5].data["content"] == {"type": "text", "text": "ab"}


def test_a_whole_message_after_its_tokens_is_not_sent_twice() -> None:
    translator = RunTranslator("run")

    events = _feed(
        translator,
        ("messages", [_chunk("a", "m1"), {}]),
        ("values", {"messages": []}),
        ("messages", [{"type": "ai", "id": "m1", "content": "a"}, {}]),
    )

    assert _kinds(events).count("message-start") == 1


def test_an_interrupt_is_requested_once_and_the_run_ends_interrupted() -> None:
    translator = RunTranslator("run")
    interrupt = {"value": {"question": "ok?"}, "id": "i1"}

    events = _feed(
        translator, ("updates", {"__interrupt__": [interrupt]}), ("values", {"__interrupt__": [interrupt]})
    ) + translator.end("success")

    assert [(e.method, e.data) for e in events] == [
        ("input.requested", {"interrupt_id": "i1", "payload": {"question": "ok?"}, "value": {"question": "ok?"}}),
        ("lifecycle", {"event": "interrupted", "run_id": "run"}),
    ]


@pytest.mark.parametrize(
    ("events", "status", "error"),
    [
        ([("error", {"error": "ValueError", "message": "boom"})], "error", "boom"),
        ([], "timeout", "Run ended with timeout"),
        ([], "interrupted", "Run was cancelled"),
    ],
)
def test_a_run_that_fails_ends_failed_with_its_error(events: list[Any], status: str, error: str) -> None:
    translator = RunTranslator("run")

    ending = [*_feed(translator, *events), *translator.end(status)][-1]

    assert ending.data == {"event": "failed", "run_id": "run", "error": error}


def test_tool_calls_start_when_the_model_message_ends_and_finish_with_the_tool_result() -> None:
    translator = RunTranslator("run")
    call = {"id": "c1", "name": "search", "args": {"query": "x"}}

    events = _feed(
        translator,
        ("messages", [{"type": "ai", "id": "m1", "content": "", "tool_calls": [call]}, {}]),
        ("messages", [{"type": "tool", "id": "t1", "content": "found", "tool_call_id": "c1"}, {}]),
    )

    tools = [e.data for e in events if e.method == "tools"]
    assert tools == [
        {"event": "tool-started", "tool_call_id": "c1", "tool_name": "search", "input": {"query": "x"}},
        {"event": "tool-finished", "tool_call_id": "c1", "output": "found"},
    ]


def test_subgraph_events_keep_their_namespace_and_filters_match_by_prefix() -> None:
    translator = RunTranslator("run")
    child = _feed(translator, ("updates|child:7", {"sub": {}}), ("custom|child:7", {"n": 1}))
    by_name = StreamFilter.parse({"channels": ["updates", "custom"], "namespaces": [["child"]], "depth": 0})
    other = StreamFilter.parse({"channels": ["updates"], "namespaces": [["other"]]})

    assert [(e.method, e.namespace) for e in child] == [("updates", ("child:7",)), ("custom", ("child:7",))]
    assert child[1].data == {"payload": {"n": 1}}
    assert all(by_name.wants(1, event) for event in child)
    assert not other.wants(1, child[0])
    assert not StreamFilter.parse({"channels": ["updates"], "since": 5}).wants(5, child[0])
