"""v3 thread streams through the real SDK (`client.threads.stream`): commands, SSE and WebSocket event streams,
messages token by token, values, output, interrupts resumed with `thread.run.respond`, replay with `since`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from websockets.asyncio.client import connect as websocket_connect

pytestmark = pytest.mark.e2e

TRANSPORTS = ["sse", "websocket"]
WAIT = 60.0
HELLO = {"messages": [{"role": "user", "content": "hi"}]}
TOKENS = 20
TOKEN_TEXT = "".join(f"t{index} " for index in range(TOKENS))


async def _texts(thread: Any) -> list[str]:
    """Each message's text; the projection feeds a message only while it is iterated, so collect them first (the
    iteration ends when the run does)."""
    messages = [message async for message in thread.messages]
    return [await message.text for message in messages]


async def _paused(thread: Any) -> None:
    """Until the SDK has seen the run pause at an interrupt: `thread.values` ends then (no await between the check
    and the iteration subscribing, so the pause cannot slip in between)."""
    if not thread.interrupted:
        async for _ in thread.values:
            pass


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_messages_stream_token_by_token_with_the_graphs_text(
    client: LangGraphClient, transport: Literal["sse", "websocket"]
) -> None:
    async with client.threads.stream(assistant_id="tokens", transport=transport) as thread:
        started = await thread.run.start(input=HELLO, config={"configurable": {"tokens": TOKENS}})
        texts = await asyncio.wait_for(_texts(thread), WAIT)
        output = await asyncio.wait_for(thread.output, WAIT)

    assert uuid.UUID(started["run_id"])
    assert texts == [TOKEN_TEXT]
    assert [m["type"] for m in output["messages"]] == ["human", "ai"]
    assert output["messages"][-1]["content"] == TOKEN_TEXT


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_every_token_is_one_content_block_delta(
    client: LangGraphClient, transport: Literal["sse", "websocket"]
) -> None:
    async with client.threads.stream(assistant_id="tokens", transport=transport) as thread:
        await thread.run.start(input=HELLO, config={"configurable": {"tokens": TOKENS}})
        events = []
        async for event in thread.subscribe(["messages", "lifecycle"]):
            events.append(event)
            if event["method"] == "lifecycle" and event["params"]["data"]["event"] == "completed":
                break

    kinds = [e["params"]["data"]["event"] for e in events if e["method"] == "messages"]
    seqs = [e["seq"] for e in events]
    assert kinds == [
        "message-start",
        "content-block-start",
        *["content-block-delta"] * TOKENS,
        "content-block-finish",
        "message-finish",
    ]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e["type"] == "event" and e["params"]["namespace"] == [] for e in events)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_values_yields_state_snapshots_and_output_the_final_state(
    client: LangGraphClient, transport: Literal["sse", "websocket"]
) -> None:
    async with client.threads.stream(assistant_id="echo", transport=transport) as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "ping"}]})
        snapshots = await asyncio.wait_for(_collect(thread.values), WAIT)
        output = await asyncio.wait_for(thread.output, WAIT)
        state = await client.threads.get_state(thread.thread_id)

    assert output == state["values"]
    assert [m["content"] for m in output["messages"]] == ["ping", "echo: ping"]
    assert snapshots[-1] == output


async def _collect(iterable: Any) -> list[Any]:
    return [item async for item in iterable]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_interrupt_is_resumed_with_run_respond(
    client: LangGraphClient, transport: Literal["sse", "websocket"]
) -> None:
    async with client.threads.stream(assistant_id="hitl", transport=transport) as thread:
        await thread.run.start(input={})
        await asyncio.wait_for(_paused(thread), WAIT)
        interrupts = list(thread.interrupts)
        await thread.run.respond("approved")
        output = await asyncio.wait_for(thread.output, WAIT)

    (interrupt,) = interrupts
    assert interrupt["value"] == {"question": "approve?"}
    assert interrupt["namespace"] == []
    assert output == {"answer": "approved", "done": True}
    assert not thread.interrupted


async def test_an_explicit_thread_id_is_created_by_run_start(client: LangGraphClient) -> None:
    thread_id = str(uuid.uuid4())

    async with client.threads.stream(thread_id, assistant_id="echo") as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "mine"}]})
        output = await asyncio.wait_for(thread.output, WAIT)
    stored = await client.threads.get(thread_id)

    assert thread.thread_id == thread_id
    assert stored["thread_id"] == thread_id
    assert output["messages"][-1]["content"] == "echo: mine"


async def test_a_new_connection_replays_the_thread_after_since(client: LangGraphClient, server_url: str) -> None:
    async with client.threads.stream(assistant_id="echo") as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "again"}]})
        await asyncio.wait_for(thread.output, WAIT)
    path = f"/threads/{thread.thread_id}/stream/events"

    async with httpx.AsyncClient(base_url=server_url, timeout=WAIT) as http:
        everything = await _read_until_completed(http, path, {"channels": ["values", "lifecycle"]})
        later = await _read_until_completed(http, path, {"channels": ["values", "lifecycle"], "since": 2})

    assert [e["seq"] for e in everything] == sorted(e["seq"] for e in everything)
    assert [e["event_id"] for e in later] == [e["event_id"] for e in everything if e["seq"] > 2]
    assert everything[0]["method"] == "lifecycle"


async def _read_events(http: httpx.AsyncClient, path: str, body: dict[str, Any], *, count: int) -> list[Any]:
    """The first `count` events of a stream (it stays open after the run: nothing else ends it)."""
    events: list[Any] = []
    async with http.stream("POST", path, json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == count:
                    return events
    return events


async def _read_until_completed(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = httpx.Response(200, content=line[6:]).json()
            events.append(event)
            if event["method"] == "lifecycle" and event["params"]["data"]["event"] == "completed":
                return events
    return events


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server_url, timeout=WAIT) as plain:
        yield plain


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(b"{not json", "Invalid JSON body", id="not-json"),
        pytest.param(b'{"method": "run.start"}', "integer id and string method", id="no-id"),
        pytest.param(b'{"id": 1}', "integer id and string method", id="no-method"),
        pytest.param(b'{"id": "1", "method": "run.start"}', "integer id and string method", id="string-id"),
        pytest.param(b"[1, 2]", "integer id and string method", id="not-an-object"),
    ],
)
async def test_a_malformed_command_is_400(http: httpx.AsyncClient, body: bytes, detail: str) -> None:
    response = await http.post(f"/threads/{uuid.uuid4()}/commands", content=body)

    assert response.status_code == 400
    payload = response.json()
    assert detail in (payload.get("detail") or payload.get("message"))


async def test_an_unknown_command_is_an_unknown_command_error(http: httpx.AsyncClient) -> None:
    response = await http.post(f"/threads/{uuid.uuid4()}/commands", json={"id": 7, "method": "state.get"})

    assert response.status_code == 200  # as langgraph-api: an error object, not an HTTP error
    assert response.json() == {
        "type": "error",
        "id": 7,
        "error": "unknown_command",
        "message": "Unknown protocol command: state.get",
    }


@pytest.mark.parametrize(
    ("command", "code"),
    [
        pytest.param({"method": "run.start", "params": {}}, "invalid_argument", id="start-without-assistant"),
        pytest.param(
            {"method": "run.start", "params": {"assistant_id": "echo", "config": "nope"}},
            "invalid_argument",
            id="start-with-bad-config",
        ),
        pytest.param({"method": "input.respond", "params": {}}, "invalid_argument", id="respond-without-interrupt"),
        pytest.param(
            {"method": "input.respond", "params": {"interrupt_id": "x", "namespace": "root"}},
            "invalid_argument",
            id="respond-with-bad-namespace",
        ),
        pytest.param(
            {"method": "input.respond", "params": {"interrupt_id": "x", "namespace": []}},
            "no_such_run",
            id="respond-on-a-missing-thread",
        ),
    ],
)
async def test_a_command_with_bad_params_is_an_error_object(
    http: httpx.AsyncClient, command: dict[str, Any], code: str
) -> None:
    response = await http.post(f"/threads/{uuid.uuid4()}/commands", json={"id": 3, **command})

    assert response.status_code == 200
    assert response.json()["type"] == "error"
    assert response.json()["error"] == code
    assert response.json()["id"] == 3


async def test_responding_to_an_interrupt_the_thread_never_had_is_no_such_interrupt(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "echo", input={"messages": []})

    response = await http.post(
        f"/threads/{thread['thread_id']}/commands",
        json={"id": 1, "method": "input.respond", "params": {"interrupt_id": "nope", "namespace": [], "response": 1}},
    )

    assert response.json()["error"] == "no_such_interrupt"


async def test_run_start_with_an_unknown_assistant_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"/threads/{uuid.uuid4()}/commands",
        json={"id": 1, "method": "run.start", "params": {"assistant_id": str(uuid.uuid4())}},
    )

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(b"nope", "Invalid JSON body", id="not-json"),
        pytest.param(b"{}", "channels is required", id="no-channels"),
        pytest.param(b'{"channels": []}', "channels is required", id="empty-channels"),
        pytest.param(b'{"channels": ["values", "bogus"]}', "unsupported entries: 'bogus'", id="unknown-channel"),
    ],
)
async def test_a_malformed_subscription_is_400(
    client: LangGraphClient, http: httpx.AsyncClient, body: bytes, detail: str
) -> None:
    thread = await client.threads.create()

    response = await http.post(f"/threads/{thread['thread_id']}/stream/events", content=body)

    assert response.status_code == 400
    assert detail in response.json()["detail"]


async def test_the_event_stream_of_an_unknown_thread_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post(f"/threads/{uuid.uuid4()}/stream/events", json={"channels": ["values"]})

    assert response.status_code == 404


async def test_malformed_websocket_commands_get_error_frames(client: LangGraphClient, server_url: str) -> None:
    thread = await client.threads.create()
    url = server_url.replace("http://", "ws://") + f"/threads/{thread['thread_id']}/stream/events"

    async with websocket_connect(url) as socket:
        answers = []
        for frame in [
            "{oops",
            '{"id": 1}',
            '{"id": 2, "method": "nope"}',
            '{"id": 3, "method": "subscription.subscribe"}',
        ]:
            await socket.send(frame)
            answers.append(json.loads(await asyncio.wait_for(socket.recv(), WAIT)))

    assert [(a["id"], a["error"]) for a in answers] == [
        (None, "invalid_argument"),
        (1, "invalid_argument"),
        (2, "unknown_command"),
        (3, "invalid_argument"),
    ]


async def test_subgraph_events_carry_their_namespace_and_filter_by_prefix(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    async with client.threads.stream(assistant_id="nested") as thread:
        await thread.run.start(input={"items": []})
        output = await asyncio.wait_for(thread.output, WAIT)
    path = f"/threads/{thread.thread_id}/stream/events"

    everything = await _read_until_completed(http, path, {"channels": ["updates", "lifecycle"]})
    child_only = await _read_events(http, path, {"channels": ["updates"], "namespaces": [["child"]]}, count=2)

    assert output["items"][-2:] == ["sub_a", "sub_b"]
    child = [e for e in everything if e["method"] == "updates" and e["params"]["namespace"]]
    assert [list(e["params"]["data"]) for e in child] == [["sub_a"], ["sub_b"]]
    assert all(e["params"]["namespace"][0].startswith("child:") for e in child)
    assert [e["event_id"] for e in child_only] == [e["event_id"] for e in child]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tool_calls_start_and_finish_with_their_output(
    client: LangGraphClient, transport: Literal["sse", "websocket"]
) -> None:
    async with client.threads.stream(assistant_id="agent", transport=transport) as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "aegra"}]})
        calls = await asyncio.wait_for(_collect(thread.tool_calls), WAIT)
        outputs = [await asyncio.wait_for(call.output, WAIT) for call in calls]
        final = await asyncio.wait_for(thread.output, WAIT)

    (call,) = calls
    assert call.name == "search"
    assert call.input == {"query": "aegra"}
    assert outputs == ["Top result for 'aegra': Aegra serves LangGraph graphs over the Agent Protocol."]
    tool_message = next(m for m in final["messages"] if m["type"] == "tool")
    assert tool_message["tool_call_id"] == call.tool_call_id
