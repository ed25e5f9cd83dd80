"""Human in the loop through the real SDK: `interrupt()`, static breakpoints, resume, update, goto, edits."""

from __future__ import annotations

from langgraph_sdk.client import LangGraphClient

WEATHER = {"messages": [{"role": "user", "content": "weather in Paris"}]}


async def _thread(client: LangGraphClient) -> str:
    return (await client.threads.create())["thread_id"]


async def test_agent_hitl_round_trip_approves_the_tool_call(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    paused = [
        part
        async for part in client.runs.stream(
            thread_id, "agent_hitl", input=WEATHER, stream_mode=["values", "messages-tuple"]
        )
    ]
    run = (await client.runs.list(thread_id))[0]
    thread = await client.threads.get(thread_id)
    state = await client.threads.get_state(thread_id)
    resumed = await client.runs.wait(thread_id, "agent_hitl", command={"resume": {"approved": True}})
    after = await client.threads.get(thread_id)

    (interrupt,) = paused[-1].data["__interrupt__"]
    (call,) = interrupt["value"]["tool_calls"]
    assert interrupt["value"]["question"] == "Run these tool calls?"
    assert call["name"] == "search"
    assert run["status"] == "success"  # langgraph-api: the run succeeds, the thread waits
    assert thread["status"] == "interrupted"
    assert list(thread["interrupts"].values()) == [[{"id": interrupt["id"], "value": interrupt["value"]}]]
    assert state["next"] == ["approve"]
    assert state["interrupts"][0]["id"] == interrupt["id"]
    assert [m["type"] for m in resumed["messages"]] == ["human", "ai", "tool", "ai"]
    assert resumed["messages"][2]["tool_call_id"] == call["id"]
    assert after["status"] == "idle"
    assert after["interrupts"] == {}


async def test_resume_by_interrupt_id_can_decline_the_tool_call(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    paused = await client.runs.wait(thread_id, "agent_hitl", input=WEATHER)
    (interrupt,) = paused["__interrupt__"]

    resumed = await client.runs.wait(
        thread_id, "agent_hitl", command={"resume": {interrupt["id"]: {"approved": False}}}
    )

    tool_message = resumed["messages"][2]
    assert tool_message["content"] == "The user declined this tool call."
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_wait_on_interrupt_returns_only_the_interrupts_and_resume_finishes(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    paused = await client.runs.wait(thread_id, "hitl", input={})
    resumed_parts = [
        part
        async for part in client.runs.stream(
            thread_id, "hitl", command={"resume": "yes"}, stream_mode=["values", "updates"]
        )
    ]

    assert list(paused) == ["__interrupt__"]
    assert paused["__interrupt__"][0]["value"] == {"question": "approve?"}
    assert [(part.event, part.data) for part in resumed_parts[1:]] == [
        ("values", {}),
        ("updates", {"ask": {"answer": "yes"}}),
        ("values", {"answer": "yes"}),
        ("updates", {"finish": {"done": True}}),
        ("values", {"answer": "yes", "done": True}),
    ]


async def test_interrupt_in_a_subgraph_is_resumed_from_the_parent(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    paused = await client.runs.wait(thread_id, "nested_hitl", input={"items": []})
    thread = await client.threads.get(thread_id)
    resumed = await client.runs.wait(thread_id, "nested_hitl", command={"resume": "ok"})

    assert paused["__interrupt__"][0]["value"] == {"question": "child approve?"}
    assert thread["status"] == "interrupted"
    assert resumed["items"][-1] == "ok"


async def test_breakpoint_then_state_edit_then_continue(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    await client.runs.wait(
        thread_id, "echo", input={"messages": [{"role": "user", "content": "draft"}]}, interrupt_before=["echo"]
    )
    paused = await client.threads.get(thread_id)
    state = await client.threads.get_state(thread_id)
    draft = state["values"]["messages"][0]
    await client.threads.update_state(thread_id, {"messages": [{**draft, "content": "edited"}]})
    output = await client.runs.wait(thread_id, "echo", input=None)

    assert paused["status"] == "interrupted"
    assert paused["interrupts"] == {}
    assert state["next"] == ["echo"]
    assert [m["content"] for m in output["messages"]] == ["edited", "echo: edited"]
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_interrupt_after_every_node_pauses_between_steps(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    first = await client.runs.wait(thread_id, "nested", input={"items": ["in"]}, interrupt_after="*")
    state = await client.threads.get_state(thread_id)
    second = await client.runs.wait(thread_id, "nested", input=None, interrupt_after=["parent_start"])

    assert first == {"items": ["in", "parent_start"]}
    assert state["next"] == ["child"]
    assert second["items"][-2:] == ["sub_a", "sub_b"]


async def test_command_update_and_goto_apply_to_an_interrupted_thread(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    await client.runs.wait(thread_id, "hitl", input={})

    parts = [
        part
        async for part in client.runs.stream(
            thread_id, "hitl", command={"update": {"answer": "skipped"}, "goto": "finish"}, stream_mode="values"
        )
    ]

    assert parts[1].data == {"answer": "skipped"}
    assert parts[-1].data == {"answer": "skipped", "done": True}


async def test_goto_can_send_input_to_a_node(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    output = await client.runs.wait(
        thread_id, "hitl", command={"goto": [{"node": "finish", "input": {"answer": "sent"}}]}
    )
    state = await client.threads.get_state(thread_id)

    assert "__interrupt__" in output  # START still leads to `ask`, which asks
    assert state["values"]["done"] is True
