"""Thread status and state after real runs (runs.wait / background runs) through the real SDK."""

from __future__ import annotations

import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError

from aegra.graphs.registry import system_assistant_id


async def _run(client: LangGraphClient, graph_id: str, payload: dict, **kwargs: object) -> tuple[str, object]:
    thread = await client.threads.create()
    output = await client.runs.wait(thread["thread_id"], graph_id, input=payload, **kwargs)
    return thread["thread_id"], output


async def test_state_after_a_run_has_messages_run_metadata_and_parent(client: LangGraphClient) -> None:
    thread_id, _ = await _run(client, "echo", {"messages": [{"role": "user", "content": "hi"}]})

    state = await client.threads.get_state(thread_id)
    thread = await client.threads.get(thread_id)

    human, ai = state["values"]["messages"]
    assert (human["type"], human["content"]) == ("human", "hi")
    assert (ai["type"], ai["content"], ai["tool_calls"]) == ("ai", "echo: hi", [])
    assert state["next"] == []
    assert state["metadata"]["source"] == "loop"
    assert state["metadata"]["step"] == 1
    assert state["metadata"]["graph_id"] == "echo"
    assert state["parent_checkpoint"] is not None
    assert thread["status"] == "idle"
    assert thread["metadata"] == {"graph_id": "echo", "assistant_id": str(system_assistant_id("echo"))}
    assert thread["values"] == state["values"]


async def test_history_after_a_run_lists_every_step_with_its_pending_tasks(client: LangGraphClient) -> None:
    thread_id, _ = await _run(client, "echo", {"messages": [{"role": "user", "content": "hi"}]})

    history = await client.threads.get_history(thread_id)

    assert [item["metadata"]["step"] for item in history] == [1, 0, -1]
    assert [item["next"] for item in history] == [[], ["echo"], ["__start__"]]
    echo_task = history[1]["tasks"][0]
    assert echo_task["name"] == "echo"
    assert echo_task["path"] == ["__pregel_pull", "echo"]
    assert echo_task["result"]["messages"][0]["content"] == "echo: hi"
    assert history[-1]["parent_checkpoint"] is None


async def test_interrupted_run_leaves_the_thread_interrupted_with_interrupts_by_task(client: LangGraphClient) -> None:
    thread_id, output = await _run(client, "hitl", {})

    thread = await client.threads.get(thread_id)
    state = await client.threads.get_state(thread_id)
    found = await client.threads.search(ids=[thread_id], status="interrupted")

    (pending,) = output["__interrupt__"]
    (task,) = state["tasks"]
    assert thread["status"] == "interrupted"
    assert thread["interrupts"] == {task["id"]: [{"id": pending["id"], "value": {"question": "approve?"}}]}
    assert state["next"] == ["ask"]
    assert task["interrupts"] == [{"id": pending["id"], "value": {"question": "approve?"}}]
    assert state["interrupts"] == task["interrupts"]
    assert [item["thread_id"] for item in found] == [thread_id]


async def test_resuming_an_interrupted_thread_makes_it_idle_again(client: LangGraphClient) -> None:
    thread_id, _ = await _run(client, "hitl", {})

    output = await client.runs.wait(thread_id, "hitl", command={"resume": "yes"})
    thread = await client.threads.get(thread_id)

    assert output == {"answer": "yes", "done": True}
    assert thread["status"] == "idle"
    assert thread["interrupts"] == {}


async def test_static_breakpoint_leaves_the_thread_interrupted_without_interrupts(client: LangGraphClient) -> None:
    thread_id, _ = await _run(
        client, "echo", {"messages": [{"role": "user", "content": "hi"}]}, interrupt_before=["echo"]
    )

    thread = await client.threads.get(thread_id)
    state = await client.threads.get_state(thread_id)

    assert thread["status"] == "interrupted"
    assert thread["interrupts"] == {}
    assert state["next"] == ["echo"]
    assert state["tasks"][0]["interrupts"] == []


async def test_failed_run_leaves_the_thread_in_error(client: LangGraphClient) -> None:
    thread_id, output = await _run(client, "boom", {"messages": [{"role": "user", "content": "hi"}]}, raise_error=False)

    thread = await client.threads.get(thread_id)

    assert output["__error__"]["error"] == "ValueError"
    assert thread["status"] == "error"
    assert [item["thread_id"] for item in await client.threads.search(ids=[thread_id], status="error")] == [thread_id]


async def test_subgraph_state_is_nested_only_with_subgraphs(client: LangGraphClient) -> None:
    thread_id, _ = await _run(client, "nested_hitl", {"items": ["in"]})

    flat = await client.threads.get_state(thread_id)
    deep = await client.threads.get_state(thread_id, subgraphs=True)

    (flat_task,) = flat["tasks"]
    (deep_task,) = deep["tasks"]
    child = deep_task["state"]
    namespace = flat_task["checkpoint"]["checkpoint_ns"]
    assert flat_task["state"] is None
    assert namespace.startswith("child:")
    assert child["next"] == ["child_ask"]
    assert child["checkpoint"]["checkpoint_ns"] == namespace
    assert set(child["checkpoint"]["checkpoint_map"]) == {"", namespace}
    assert child["tasks"][0]["interrupts"][0]["value"] == {"question": "child approve?"}
    assert deep_task["interrupts"] == child["interrupts"]


async def test_subgraph_history_and_state_by_checkpoint_namespace(client: LangGraphClient) -> None:
    thread_id, _ = await _run(client, "nested_hitl", {"items": ["in"]})
    namespace = (await client.threads.get_state(thread_id))["tasks"][0]["checkpoint"]["checkpoint_ns"]

    child_history = await client.threads.get_history(thread_id, checkpoint={"checkpoint_ns": namespace})
    child_state = await client.threads.get_state(
        thread_id, checkpoint={"checkpoint_ns": namespace, "checkpoint_id": child_history[0]["checkpoint_id"]}
    )

    assert child_history
    assert all(item["checkpoint"]["checkpoint_ns"] == namespace for item in child_history)
    assert child_state["next"] == ["child_ask"]


async def test_update_state_while_a_run_is_in_flight_conflicts(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "slow", input={})

    with pytest.raises(ConflictError, match="busy"):
        await client.threads.update_state(thread["thread_id"], {"ticks": [1]}, as_node="tick")

    await client.runs.cancel(thread["thread_id"], run["run_id"], wait=True)


async def test_copy_after_a_run_keeps_the_history(client: LangGraphClient) -> None:
    thread_id, _ = await _run(client, "echo", {"messages": [{"role": "user", "content": "hi"}]})

    copied = await client.threads.copy(thread_id)

    original = await client.threads.get_history(thread_id)
    duplicate = await client.threads.get_history(copied["thread_id"])
    assert [item["checkpoint_id"] for item in duplicate] == [item["checkpoint_id"] for item in original]
    assert [item["values"] for item in duplicate] == [item["values"] for item in original]
    assert copied["metadata"]["graph_id"] == "echo"


async def test_delete_removes_the_threads_runs(client: LangGraphClient) -> None:
    thread_id, _ = await _run(client, "echo", {"messages": [{"role": "user", "content": "hi"}]})
    (run,) = await client.runs.list(thread_id)

    await client.threads.delete(thread_id)

    with pytest.raises(NotFoundError):
        await client.runs.get(thread_id, run["run_id"])
