"""Run machinery without a server: the broker, chunk translation, result bodies, multitask rules, ids."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langgraph.types import Interrupt

from aegra import serde
from aegra.runs.broker import RunBroker, RunOutcome, StreamEvent, Subscription
from aegra.runs.executor import Emitter
from aegra.runs.follow import parse_last_event_id
from aegra.runs.multitask import plan_multitask
from aegra.runs.plan import RunPlan
from aegra.runs.service import uuid7
from aegra.runs.translate import ChunkTranslator, MessageAccumulator, RunResult, result_body


def _plan(modes: list[str]) -> RunPlan:
    return RunPlan(
        run_id=uuid.uuid4(),
        thread_id=uuid.uuid4(),
        graph_id="g",
        attempt=1,
        input=None,
        config={},
        context={},
        requested=frozenset(modes),
        subgraphs=False,
        temporary=False,
        resumable=False,
        astream_kwargs={},
    )


def _translator(modes: list[str], *, subgraphs: bool = False) -> tuple[ChunkTranslator, Subscription, RunResult]:
    """A translator publishing into a fresh broker, and a subscription that sees what it sends."""
    broker = RunBroker()
    run_id = uuid.uuid4()
    subscription = broker.subscribe(run_id)
    channel = broker.start(run_id, keep_events=False)
    result = RunResult()
    translator = ChunkTranslator(
        frozenset(modes), subgraphs=subgraphs, emit=Emitter(broker, channel).emit, result=result
    )
    return translator, subscription, result


async def _decoded(subscription: Subscription) -> list[tuple[str, Any]]:
    """Everything published so far (then the end-of-stream marker, so the drain stops)."""
    subscription.deliver(None)
    events = []
    while (item := await subscription.next_event(1)) is not None:
        events.append((item.event, serde.loads(item.data)))
    return events


async def test_broker_fans_out_to_every_subscriber_in_order() -> None:
    broker = RunBroker()
    run_id = uuid.uuid4()
    first = broker.subscribe(run_id)
    second = broker.subscribe(run_id)
    channel = broker.start(run_id, keep_events=False)

    broker.publish(channel, "metadata", b"{}")
    broker.publish(channel, "values", b"1")
    broker.finish(run_id, RunOutcome("success", b"1"))

    for subscription in (first, second):
        assert [(await subscription.next_event(1)).event for _ in range(2)] == ["metadata", "values"]  # type: ignore[union-attr]
        assert await subscription.next_event(1) is None
        assert (await subscription.wait_outcome(1)).body == b"1"


async def test_broker_filters_by_stream_mode_but_always_sends_metadata_and_errors() -> None:
    broker = RunBroker()
    run_id = uuid.uuid4()
    subscription = broker.subscribe(run_id, modes=["messages-tuple"])
    channel = broker.start(run_id, keep_events=False)

    for event in ("metadata", "values", "messages", "messages/partial", "updates|child:1", "error"):
        broker.publish(channel, event, b"0")
    broker.finish(run_id, RunOutcome("error", b"{}"))

    received = []
    while (item := await subscription.next_event(1)) is not None:
        received.append(item.event)
    assert received == ["metadata", "messages", "messages/partial", "error"]


async def test_broker_replays_kept_events_after_a_sequence_number() -> None:
    broker = RunBroker()
    run_id = uuid.uuid4()
    channel = broker.start(run_id, keep_events=True)
    for index in range(4):
        broker.publish(channel, f"e{index}", b"0")

    late = broker.subscribe(run_id, after_seq=1)

    assert [(await late.next_event(1)).seq for _ in range(2)] == [2, 3]  # type: ignore[union-attr]


async def test_waiting_for_the_outcome_times_out_while_the_run_lives() -> None:
    broker = RunBroker()
    subscription = broker.subscribe(uuid.uuid4(), events=False)

    with pytest.raises(TimeoutError):
        await subscription.wait_outcome(0.01)


def test_unsubscribing_the_last_follower_of_an_idle_run_drops_its_channel() -> None:
    broker = RunBroker()
    run_id = uuid.uuid4()
    subscription = broker.subscribe(run_id)

    broker.unsubscribe(subscription)

    assert not broker.is_followed_elsewhere(run_id)
    assert broker.subscriber_count == 0


def test_stream_event_mode_strips_namespace_and_message_suffix() -> None:
    assert StreamEvent(0, "updates|child:1|grand:2", b"").mode == "updates"
    assert StreamEvent(0, "messages/partial", b"").mode == "messages"


def test_messages_mode_sends_metadata_once_then_accumulates_chunks() -> None:
    accumulator = MessageAccumulator()

    first = accumulator.events(AIMessageChunk(content="Hel", id="m1"), {"langgraph_node": "n"})
    second = accumulator.events(AIMessageChunk(content="lo", id="m1"), {"langgraph_node": "n"})

    assert [name for name, _ in first] == ["messages/metadata", "messages/partial"]
    assert first[0][1] == {"m1": {"metadata": {"langgraph_node": "n"}}}
    assert [name for name, _ in second] == ["messages/partial"]
    (message,) = second[0][1]
    assert (message.type, message.content) == ("ai", "Hello")


def test_complete_messages_are_sent_whole() -> None:
    events = MessageAccumulator().events(AIMessage(content="done", id="m2"), {})

    assert [name for name, _ in events] == ["messages/metadata", "messages/complete"]


async def test_messages_tuple_is_sent_as_messages_with_namespace() -> None:
    translator, subscription, _ = _translator(["messages-tuple"], subgraphs=True)

    translator.chunk((("child:1",), "messages", (AIMessageChunk(content="x", id="m"), {"k": 1})))

    ((event, data),) = await _decoded(subscription)
    assert event == "messages|child:1"
    assert data[0]["content"] == "x"
    assert data[1] == {"k": 1}


async def test_unrequested_modes_are_not_sent_but_still_shape_the_result() -> None:
    translator, subscription, result = _translator(["custom"])

    translator.chunk(("values", {"a": 1}))
    translator.chunk(("updates", {"node": {"a": 1}}))
    translator.chunk(("custom", {"p": 1}))

    assert await _decoded(subscription) == [("custom", {"p": 1})]
    assert result.values == {"a": 1}


def test_interrupts_in_values_become_the_result_not_the_values() -> None:
    translator, _, result = _translator(["values"])
    pending = Interrupt(value={"q": 1}, id="i1")

    translator.chunk(("values", {"a": 1}))
    translator.chunk(("values", {"__interrupt__": (pending,)}))

    assert result.values == {"a": 1}
    assert serde.loads(serde.dumps(result_body("success", result, None))) == {
        "__interrupt__": [{"value": {"q": 1}, "id": "i1", "response_schema": None}]
    }


async def test_debug_checkpoints_gain_checkpoint_objects() -> None:
    translator, subscription, _ = _translator(["debug"])
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c1"}}

    translator.chunk(
        ("debug", {"type": "checkpoint", "payload": {"config": config, "parent_config": None, "tasks": []}})
    )

    ((_, data),) = await _decoded(subscription)
    assert data["payload"]["checkpoint"] == {"checkpoint_id": "c1", "thread_id": "t", "checkpoint_ns": ""}
    assert data["payload"]["parent_checkpoint"] is None


def test_graph_modes_always_include_values_and_updates_and_map_tuple_to_messages() -> None:
    assert _plan(["messages-tuple", "events"]).graph_modes == ["messages", "updates", "values"]


def test_result_bodies_per_ending() -> None:
    result = RunResult(values={"a": 1}, error={"error": "ValueError", "message": "boom"})

    assert result_body("error", result, None) == {"__error__": {"error": "ValueError", "message": "boom"}}
    assert result_body("interrupted", result, None) == {"a": 1}
    assert result_body("rollback", result, None) == {}
    assert result_body("success", RunResult(), None) == {}


@pytest.mark.parametrize(
    ("strategy", "inflight", "action"),
    [
        ("enqueue", True, None),
        ("reject", False, None),
        ("reject", True, "reject"),
        ("interrupt", True, "interrupt"),
        ("rollback", True, "rollback"),
    ],
)
def test_multitask_plan(strategy: str, inflight: bool, action: str | None) -> None:
    assert plan_multitask(strategy, has_inflight=inflight) == action


def test_last_event_id_is_a_sequence_number() -> None:
    assert parse_last_event_id(None) is None
    assert parse_last_event_id("-1") == -1
    assert parse_last_event_id("12") == 12


@pytest.mark.parametrize("raw", ["1795626344231-0", "not-an-id", str(2**70)])
def test_a_last_event_id_this_server_never_sent_replays_from_the_start(raw: str) -> None:
    assert parse_last_event_id(raw) == -1


async def test_uuid7_ids_are_version_7_and_time_ordered() -> None:
    first = uuid7()
    await asyncio.sleep(0.002)
    second = uuid7()

    assert first.version == 7
    assert first < second
