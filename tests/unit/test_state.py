"""`aegra.graphs.snapshots`: StateSnapshots rendered as langgraph-api's ThreadState JSON."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import orjson
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import Interrupt, PregelTask, StateSnapshot, interrupt

from aegra.graphs.snapshots import (
    STATE_FIELDS,
    checkpoint_from_config,
    empty_state,
    interrupt_to_dict,
    interrupts_by_task,
    state_to_dict,
    thread_status_after_run,
)

TASK_KEYS = {"id", "name", "path", "error", "interrupts", "checkpoint", "state", "result"}


def _echo_graph() -> Pregel:
    def echo(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(content=f"echo: {state['messages'][-1].content}", id="ai-1")]}

    builder = StateGraph(MessagesState).add_node("echo", echo).add_edge(START, "echo").add_edge("echo", END)
    return builder.compile(checkpointer=InMemorySaver())


class AskState(TypedDict, total=False):
    answer: str


def _ask(state: AskState) -> dict[str, Any]:
    return {"answer": interrupt({"question": "approve?"})}


def _hitl_graph() -> Pregel:
    builder = StateGraph(AskState).add_node("ask", _ask).add_edge(START, "ask").add_edge("ask", END)
    return builder.compile(checkpointer=InMemorySaver())


class Items(TypedDict, total=False):
    items: Annotated[list[str], lambda a, b: (a or []) + (b or [])]


def _nested_interrupting_graph() -> Pregel:
    def child_ask(state: Items) -> dict[str, Any]:
        return {"items": [interrupt("child?")]}

    child = StateGraph(Items).add_node("child_ask", child_ask).add_edge(START, "child_ask").compile()
    builder = StateGraph(Items).add_node("child", child).add_edge(START, "child").add_edge("child", END)
    return builder.compile(checkpointer=InMemorySaver())


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def test_state_after_a_run_has_langgraph_api_shape_and_message_dicts() -> None:
    graph = _echo_graph()
    config = _config("t-echo")
    await graph.ainvoke({"messages": [HumanMessage(content="hi", id="h-1")]}, config)

    state = state_to_dict(await graph.aget_state(config))

    assert set(state) == STATE_FIELDS
    assert state["next"] == []
    assert state["tasks"] == []
    assert state["interrupts"] == []
    assert state["checkpoint"]["thread_id"] == "t-echo"
    assert state["checkpoint"]["checkpoint_ns"] == ""
    assert state["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    assert state["parent_checkpoint_id"] == state["parent_checkpoint"]["checkpoint_id"]
    assert state["metadata"]["source"] == "loop"
    human, ai = state["values"]["messages"]
    assert human == {
        "content": "hi",
        "additional_kwargs": {},
        "response_metadata": {},
        "type": "human",
        "name": None,
        "id": "h-1",
    }
    assert ai["type"] == "ai"
    assert ai["content"] == "echo: hi"
    assert ai["tool_calls"] == []
    assert ai["invalid_tool_calls"] == []
    orjson.dumps(state)  # plain JSON all the way down


async def test_history_entries_carry_pending_tasks_with_path_and_result() -> None:
    graph = _echo_graph()
    config = _config("t-history")
    await graph.ainvoke({"messages": [HumanMessage(content="hi", id="h-1")]}, config)

    history = [state_to_dict(snapshot) async for snapshot in graph.aget_state_history(config)]

    oldest = history[-1]
    assert oldest["parent_checkpoint"] is None
    assert oldest["parent_checkpoint_id"] is None
    assert oldest["next"] == ["__start__"]
    (start_task,) = oldest["tasks"]
    assert set(start_task) == TASK_KEYS
    assert start_task["name"] == "__start__"
    assert start_task["path"] == ["__pregel_pull", "__start__"]
    echo_task = history[-2]["tasks"][0]
    assert echo_task["name"] == "echo"
    assert echo_task["result"]["messages"][0]["content"] == "echo: hi"


async def test_interrupted_state_lists_interrupts_on_state_and_task() -> None:
    graph = _hitl_graph()
    config = _config("t-hitl")
    await graph.ainvoke({}, config)
    snapshot = await graph.aget_state(config)

    state = state_to_dict(snapshot)
    by_task = interrupts_by_task(snapshot)

    (task,) = state["tasks"]
    assert state["next"] == ["ask"]
    assert task["interrupts"] == state["interrupts"]
    (pending,) = state["interrupts"]
    assert pending["value"] == {"question": "approve?"}
    assert len(pending["id"]) == 32
    assert by_task == {task["id"]: [{"id": pending["id"], "value": {"question": "approve?"}}]}
    assert thread_status_after_run(snapshot, errored=False) == "interrupted"


async def test_subgraph_state_is_nested_in_its_task_only_when_read_with_subgraphs() -> None:
    graph = _nested_interrupting_graph()
    config = _config("t-nested")
    await graph.ainvoke({"items": ["in"]}, config)

    flat = state_to_dict(await graph.aget_state(config))
    deep = state_to_dict(await graph.aget_state(config, subgraphs=True))

    (flat_task,) = flat["tasks"]
    (deep_task,) = deep["tasks"]
    assert flat_task["state"] is None
    assert flat_task["checkpoint"]["checkpoint_ns"].startswith("child:")
    child_state = deep_task["state"]
    assert set(child_state) == STATE_FIELDS
    assert child_state["next"] == ["child_ask"]
    assert child_state["checkpoint"]["checkpoint_ns"].startswith("child:")
    assert "checkpoint_map" in child_state["checkpoint"]
    assert child_state["tasks"][0]["interrupts"][0]["value"] == "child?"


async def test_status_is_idle_after_a_finished_run_and_error_when_it_failed() -> None:
    graph = _echo_graph()
    config = _config("t-status")
    await graph.ainvoke({"messages": [HumanMessage(content="hi")]}, config)
    snapshot = await graph.aget_state(config)

    assert thread_status_after_run(snapshot, errored=False) == "idle"
    assert thread_status_after_run(snapshot, errored=True) == "error"
    assert thread_status_after_run(None, errored=False) == "idle"


async def test_static_breakpoint_leaves_the_thread_interrupted() -> None:
    graph = _echo_graph()
    config = _config("t-breakpoint")
    await graph.ainvoke({"messages": [HumanMessage(content="hi")]}, config, interrupt_before=["echo"])

    snapshot = await graph.aget_state(config)

    assert list(snapshot.next) == ["echo"]
    assert interrupts_by_task(snapshot) == {}
    assert thread_status_after_run(snapshot, errored=False) == "interrupted"


def test_empty_state_has_no_checkpoint() -> None:
    state = empty_state()

    assert state["values"] == {}
    assert state["next"] == []
    assert state["tasks"] == []
    assert state["checkpoint"] is None
    assert state["parent_checkpoint"] is None
    assert state["metadata"] is None
    assert state["created_at"] is None


def test_checkpoint_from_config_needs_a_thread_and_a_checkpoint_id() -> None:
    assert checkpoint_from_config(None) is None
    assert checkpoint_from_config({"configurable": {"thread_id": "t"}}) is None
    assert checkpoint_from_config({"configurable": {"thread_id": "t", "checkpoint_id": "c"}}) == {
        "checkpoint_id": "c",
        "thread_id": "t",
    }
    assert checkpoint_from_config(
        {"configurable": {"thread_id": "t", "checkpoint_id": "c", "checkpoint_ns": None, "checkpoint_map": {}}}
    ) == {"checkpoint_id": "c", "thread_id": "t", "checkpoint_ns": "", "checkpoint_map": {}}


def test_interrupt_keeps_response_schema_only_when_declared() -> None:
    plain = Interrupt(value={"q": 1}, id="abc")
    typed = Interrupt(value="x", id="def", response_schema={"type": "string"})

    assert interrupt_to_dict(plain) == {"id": "abc", "value": {"q": 1}}
    assert interrupt_to_dict(typed) == {"id": "def", "value": "x", "response_schema": {"type": "string"}}
    assert interrupt_to_dict({"id": "ghi", "value": 2, "when": "during"}) == {"id": "ghi", "value": 2}


def test_task_error_is_rendered_as_error_and_message() -> None:
    snapshot = StateSnapshot(
        values={},
        next=("boom",),
        config={"configurable": {"thread_id": "t", "checkpoint_id": "c", "checkpoint_ns": ""}},
        metadata={"source": "loop", "step": 1, "parents": {}},
        created_at="2026-01-01T00:00:00+00:00",
        parent_config=None,
        tasks=(),
        interrupts=(),
    )
    task = PregelTask(id="x", name="boom", path=("__pregel_pull", "boom"), error=ValueError("boom"))
    failed = snapshot._replace(tasks=(task,))

    state = state_to_dict(failed)

    assert state["tasks"][0]["error"] == {"error": "ValueError", "message": "boom"}
