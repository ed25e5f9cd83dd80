"""`client.runs.stream` / `join_stream` through the real SDK, plus the exact SSE bytes and headers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

HI = {"messages": [{"role": "user", "content": "hi"}]}
REPLY = "Hello there, this is a fake streamed reply."


async def _thread(client: LangGraphClient) -> str:
    return (await client.threads.create())["thread_id"]


async def _stream(client: LangGraphClient, graph_id: str, stream_mode: str | Sequence[str], **kwargs: Any) -> list[Any]:
    thread_id = await _thread(client)
    parts = client.runs.stream(thread_id, graph_id, input=HI, stream_mode=stream_mode, **kwargs)  # type: ignore[arg-type]
    return [part async for part in parts]


def _events(parts: Sequence[StreamPart]) -> list[str]:
    return [part.event for part in parts]


async def test_first_event_is_metadata_with_run_id_and_attempt(client: LangGraphClient) -> None:
    parts = await _stream(client, "echo", "values")

    assert parts[0].event == "metadata"
    assert set(parts[0].data) == {"run_id", "attempt"}
    assert parts[0].data["attempt"] == 1


async def test_values_mode_sends_the_state_after_each_step(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "values")

    assert _events(parts) == ["metadata", "values", "values"]
    assert [m["content"] for m in parts[-1].data["messages"]] == ["hi", REPLY]


async def test_updates_mode_sends_node_outputs(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "updates")

    assert _events(parts) == ["metadata", "updates"]
    assert parts[1].data["chat"]["messages"][0]["content"] == REPLY


async def test_messages_tuple_mode_streams_token_deltas_with_metadata(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "messages-tuple")

    tokens = [part for part in parts if part.event == "messages"]
    chunk, metadata = tokens[0].data
    assert "".join(part.data[0]["content"] for part in tokens) == REPLY
    assert chunk["type"] == "AIMessageChunk"
    assert metadata["langgraph_node"] == "chat"
    assert metadata["graph_id"] == "chat"
    assert metadata["run_attempt"] == 1


async def test_messages_mode_sends_metadata_once_then_the_accumulated_message(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "messages")

    events = _events(parts)
    partials = [part.data[0] for part in parts if part.event == "messages/partial"]
    (metadata_part,) = [part for part in parts if part.event == "messages/metadata"]
    assert events[:3] == ["metadata", "messages/metadata", "messages/partial"]
    assert partials[0]["content"] == "Hello"
    assert partials[-1]["content"] == REPLY
    assert partials[-1]["type"] == "ai"
    assert list(metadata_part.data) == [partials[-1]["id"]]
    assert metadata_part.data[partials[-1]["id"]]["metadata"]["langgraph_node"] == "chat"


async def test_custom_mode_sends_what_the_graph_writes(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "custom")

    assert [part.data for part in parts[1:]] == [{"progress": "starting", "step": 1}, {"progress": "done", "step": 2}]


async def test_events_mode_sends_langchain_events(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "events")

    kinds = [part.data["event"] for part in parts if part.event == "events"]
    streamed = [p.data["data"]["chunk"]["content"] for p in parts if p.data.get("event") == "on_chat_model_stream"]
    assert kinds[0] == "on_chain_start"
    assert kinds[-1] == "on_chain_end"
    assert "".join(streamed) == REPLY
    assert parts[1].data["run_id"] == parts[0].data["run_id"]


async def test_debug_mode_sends_checkpoints_tasks_and_results(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "debug")

    payloads = [part.data for part in parts if part.event == "debug"]
    kinds = [payload["type"] for payload in payloads]
    checkpoint = payloads[0]["payload"]
    assert kinds == ["checkpoint", "checkpoint", "task", "task_result", "checkpoint"]
    assert checkpoint["checkpoint"]["checkpoint_id"] == checkpoint["config"]["configurable"]["checkpoint_id"]
    assert checkpoint["parent_checkpoint"] is None


async def test_tasks_mode_sends_task_starts_and_results(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "tasks")

    start, result = (part.data for part in parts[1:])
    assert (start["name"], start["triggers"]) == ("chat", ["branch:to:chat"])
    assert result["id"] == start["id"]
    assert result["error"] is None
    assert result["result"]["messages"][0]["content"] == REPLY


async def test_checkpoints_mode_sends_each_checkpoint(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", "checkpoints")

    checkpoints = [part.data for part in parts if part.event == "checkpoints"]
    assert [c["metadata"]["step"] for c in checkpoints] == [-1, 0, 1]
    assert checkpoints[-1]["next"] == []


async def test_several_modes_are_multiplexed_in_order(client: LangGraphClient) -> None:
    parts = await _stream(client, "chat", ["values", "updates", "messages-tuple", "events"])

    events = [event for event in _events(parts) if event != "events"]
    assert events[:2] == ["metadata", "values"]
    assert set(events[2:-2]) == {"messages"}
    assert events[-2:] == ["updates", "values"]
    assert "events" in _events(parts)


async def test_subgraph_events_are_namespaced_when_requested(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    parts = [
        part
        async for part in client.runs.stream(
            thread_id, "nested", input={"items": ["in"]}, stream_mode="updates", stream_subgraphs=True
        )
    ]
    flat = [part async for part in client.runs.stream(thread_id, "nested", input={"items": []}, stream_mode="updates")]

    names = _events(parts)
    child = [name for name in names if name.startswith("updates|child:")]
    assert names[1] == "updates"
    assert len(child) == 2
    assert [part.data for part in parts if part.event in child] == [
        {"sub_a": {"items": ["sub_a"]}},
        {"sub_b": {"items": ["sub_b"]}},
    ]
    assert all("|" not in name for name in _events(flat))


async def test_v2_stream_parts_split_mode_and_namespace(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    parts = [
        part
        async for part in client.runs.stream(
            thread_id, "nested", input={"items": ["in"]}, stream_mode="values", stream_subgraphs=True, version="v2"
        )
    ]

    namespaces = {tuple(part["ns"]) for part in parts if part["type"] == "values"}
    assert () in namespaces
    assert any(ns and ns[0].startswith("child:") for ns in namespaces)


async def test_graph_error_arrives_as_an_error_event(client: LangGraphClient) -> None:
    parts = await _stream(client, "boom", ["values", "updates"])

    assert _events(parts) == ["metadata", "values", "error"]
    assert parts[-1].data == {"error": "ValueError", "message": "boom"}


async def test_interrupt_is_streamed_in_updates_and_values(client: LangGraphClient) -> None:
    thread_id = await _thread(client)

    parts = [part async for part in client.runs.stream(thread_id, "hitl", input={}, stream_mode=["values", "updates"])]

    assert _events(parts) == ["metadata", "updates", "values"]
    (interrupt,) = parts[-1].data["__interrupt__"]
    assert interrupt["value"] == {"question": "approve?"}
    assert parts[1].data == parts[2].data


async def test_static_interrupt_before_streams_an_empty_interrupt_update(client: LangGraphClient) -> None:
    parts = await _stream(client, "echo", ["values", "updates"], interrupt_before=["echo"])

    assert _events(parts) == ["metadata", "values", "updates"]
    assert parts[-1].data == {"__interrupt__": []}


async def test_sse_bytes_and_headers_match_langgraph_api(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        async with http.stream(
            "POST",
            f"/threads/{thread_id}/runs/stream",
            json={"assistant_id": "echo", "input": HI, "stream_mode": "updates"},
        ) as response:
            chunks = [chunk async for chunk in response.aiter_raw()]

    body = b"".join(chunks)
    run_path = response.headers["content-location"]
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["location"] == f"{run_path}/stream"
    assert run_path.startswith(f"/threads/{thread_id}/runs/")
    assert body.startswith(
        b'event: metadata\r\ndata: {"run_id":"' + run_path.rsplit("/", 1)[1].encode() + b'","attempt":1}\r\n\r\n'
    )
    assert b'\r\nevent: updates\r\ndata: {"echo":' in body
    assert body.endswith(b"\r\n\r\n")
    assert b"id: " not in body
    assert body.replace(b"\r\n", b"").count(b"\n") == 0


async def test_stateless_stream_points_at_the_run_without_thread(server_url: str) -> None:
    body_json = {"assistant_id": "echo", "input": HI}
    async with (
        httpx.AsyncClient(base_url=server_url) as http,
        http.stream("POST", "/runs/stream", json=body_json) as response,
    ):
        body = b"".join([chunk async for chunk in response.aiter_raw()])

    run_path = response.headers["content-location"]
    assert run_path.startswith("/runs/")
    assert response.headers["location"] == f"{run_path}/stream"
    assert body.count(b"event: values") == 2


async def test_resumable_stream_has_ids_and_join_replays_after_last_event_id(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    created: list[Any] = []

    parts = [
        part
        async for part in client.runs.stream(
            thread_id,
            "chat",
            input=HI,
            stream_mode=["values", "updates", "custom"],
            stream_resumable=True,
            on_run_created=created.append,
        )
    ]
    run_id = created[0]["run_id"]
    everything = [part async for part in client.runs.join_stream(thread_id, run_id, last_event_id="-1")]
    after_second = [part async for part in client.runs.join_stream(thread_id, run_id, last_event_id=parts[1].id)]
    only_custom = [
        part async for part in client.runs.join_stream(thread_id, run_id, last_event_id="-1", stream_mode="custom")
    ]
    nothing = [part async for part in client.runs.join_stream(thread_id, run_id)]

    assert [part.id for part in parts] == [str(seq) for seq in range(len(parts))]
    assert [(p.event, p.data) for p in everything] == [(p.event, p.data) for p in parts]
    assert [(p.event, p.data) for p in after_second] == [(p.event, p.data) for p in parts[2:]]
    assert _events(only_custom) == ["metadata", "custom", "custom"]
    assert nothing == []


async def test_join_stream_follows_a_live_background_run(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    run = await client.runs.create(
        thread_id, "tokens", input=HI, stream_mode=["values", "messages-tuple"], config={"configurable": {"tokens": 5}}
    )

    parts = [part async for part in client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")]

    assert (await client.runs.get(thread_id, run["run_id"]))["status"] == "success"
    assert parts[-1].event == "values"
    assert parts[-1].data["messages"][-1]["content"] == "t0 t1 t2 t3 t4 "


async def test_join_stream_of_unknown_run_is_not_found_and_bad_modes_are_unprocessable(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        missing = await http.get(f"/threads/{thread_id}/runs/01a213ab-9b48-70b3-b019-6383ebea5479/stream")
        run = await http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "echo", "input": HI})
        run_path = run.headers["content-location"]
        bad_event_id = await http.get(f"{run_path}/stream", headers={"Last-Event-ID": "yesterday"})
        bad_mode = await http.get(f"{run_path}/stream", params={"stream_mode": "everything"})

    assert missing.status_code == 404
    assert bad_event_id.status_code == 200  # an id never sent replays from the start, as langgraph-api does
    assert bad_mode.status_code == 422
    assert "stream_mode" in bad_mode.json()["detail"]


async def test_first_token_reaches_the_client_while_the_model_still_streams(client: LangGraphClient) -> None:
    thread_id = await _thread(client)
    tokens: list[str] = []

    async for part in client.runs.stream(
        thread_id,
        "tokens",
        input=HI,
        stream_mode="messages-tuple",
        config={"configurable": {"tokens": 20, "gated": True}},
    ):
        if part.event != "messages":
            continue
        tokens.append(part.data[0]["content"])
        if len(tokens) == 1:
            # The model waits for this gate after its first token: the token arrived before the model finished.
            await client.store.put_item(["gates"], thread_id, {"open": True})

    assert [token for token in tokens if token] == [f"t{index} " for index in range(20)]


async def test_client_disconnect_cancels_the_run_when_on_disconnect_is_cancel(
    client: LangGraphClient, server_url: str
) -> None:
    thread_id = await _thread(client)

    async with (
        httpx.AsyncClient(base_url=server_url) as http,
        http.stream(
            "POST",
            f"/threads/{thread_id}/runs/stream",
            json={"assistant_id": "slow", "input": {}, "stream_mode": "values", "on_disconnect": "cancel"},
        ) as response,
    ):
        run_id = response.headers["content-location"].rsplit("/", 1)[1]
        async for line in response.aiter_lines():
            if line.startswith("event: values"):
                break

    await client.runs.join(thread_id, run_id)
    assert (await client.runs.get(thread_id, run_id))["status"] == "interrupted"


async def test_client_disconnect_leaves_the_run_running_by_default(client: LangGraphClient, server_url: str) -> None:
    thread_id = await _thread(client)
    body = {
        "assistant_id": "tokens",
        "input": HI,
        "stream_mode": "messages-tuple",
        "config": {"configurable": {"tokens": 3, "gated": True}},
    }

    path = f"/threads/{thread_id}/runs/stream"
    async with httpx.AsyncClient(base_url=server_url) as http, http.stream("POST", path, json=body) as response:
        run_id = response.headers["content-location"].rsplit("/", 1)[1]
        async for line in response.aiter_lines():
            if line.startswith("event: messages"):
                break
    await client.store.put_item(["gates"], thread_id, {"open": True})
    output = await client.runs.join(thread_id, run_id)

    assert (await client.runs.get(thread_id, run_id))["status"] == "success"
    assert output["messages"][-1]["content"] == "t0 t1 t2 "


@pytest.mark.parametrize("path", ["/threads/{thread_id}/runs/stream", "/runs/stream"])
async def test_stream_errors_before_the_stream_are_plain_json(server_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        response = await http.post(path.format(thread_id=thread_id), json={"assistant_id": "echo", "stream_mode": "x"})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
