"""Thread state through the real SDK: get_state, update_state, history, checkpoints, supersteps."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableEntityError

from aegra.db.url import psycopg_conninfo
from aegra.graphs.snapshots import STATE_FIELDS


def _message(content: str, index: int) -> dict[str, Any]:
    return {"role": "user", "content": content, "id": f"m-{index}"}


async def _echo_thread(client: LangGraphClient, *texts: str) -> str:
    thread = await client.threads.create(graph_id="echo")
    for index, content in enumerate(texts):
        await client.threads.update_state(thread["thread_id"], {"messages": [_message(content, index)]}, as_node="echo")
    return thread["thread_id"]


@pytest.fixture
async def pg(database_url: str, server_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A raw connection to the module's database (to stage rows the runs API would write)."""
    async with await psycopg.AsyncConnection.connect(psycopg_conninfo(database_url), autocommit=True) as conn:
        yield conn


async def test_state_of_a_thread_without_graph_is_empty(client: LangGraphClient) -> None:
    thread = await client.threads.create()

    state = await client.threads.get_state(thread["thread_id"])
    history = await client.threads.get_history(thread["thread_id"])

    assert set(state) == STATE_FIELDS
    assert state["values"] == {}
    assert state["next"] == []
    assert state["tasks"] == []
    assert state["checkpoint"] is None
    assert state["metadata"] is None
    assert history == []


async def test_state_of_unknown_thread_is_not_found(client: LangGraphClient) -> None:
    with pytest.raises(NotFoundError):
        await client.threads.get_state(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        await client.threads.get_history(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        await client.threads.update_state(str(uuid.uuid4()), {"messages": []}, as_node="echo")


async def test_update_state_without_graph_is_a_bad_request_naming_graph_id(client: LangGraphClient) -> None:
    thread = await client.threads.create()

    with pytest.raises(BadRequestError, match="has no assigned graph ID"):
        await client.threads.update_state(thread["thread_id"], {"messages": []}, as_node="echo")


async def test_update_state_returns_the_new_checkpoint(client: LangGraphClient) -> None:
    thread = await client.threads.create(graph_id="echo")

    result = await client.threads.update_state(
        thread["thread_id"], {"messages": [_message("injected", 1)]}, as_node="echo"
    )

    assert set(result) == {"checkpoint", "configurable", "checkpoint_id"}
    assert result["checkpoint"]["thread_id"] == thread["thread_id"]
    assert result["checkpoint"]["checkpoint_ns"] == ""
    assert result["checkpoint_id"] == result["checkpoint"]["checkpoint_id"]
    assert result["configurable"] == result["checkpoint"]


async def test_state_after_update_has_langchain_message_dicts_and_update_metadata(client: LangGraphClient) -> None:
    thread_id = await _echo_thread(client, "hi", "again")

    state = await client.threads.get_state(thread_id)

    assert set(state) == STATE_FIELDS
    assert state["next"] == []
    assert state["values"]["messages"] == [
        {"content": "hi", "additional_kwargs": {}, "response_metadata": {}, "type": "human", "name": None, "id": "m-0"},
        {
            "content": "again",
            "additional_kwargs": {},
            "response_metadata": {},
            "type": "human",
            "name": None,
            "id": "m-1",
        },
    ]
    assert state["metadata"]["source"] == "update"
    assert state["metadata"]["graph_id"] == "echo"
    assert state["metadata"]["step"] == 1
    assert state["parent_checkpoint"]["checkpoint_id"] == state["parent_checkpoint_id"]
    assert state["created_at"].endswith("+00:00")


async def test_update_state_refreshes_the_thread_values_cache(client: LangGraphClient) -> None:
    created = await client.threads.create(graph_id="echo")

    await client.threads.update_state(created["thread_id"], {"messages": [_message("cached", 0)]}, as_node="echo")
    thread = await client.threads.get(created["thread_id"])

    assert thread["values"]["messages"][0]["content"] == "cached"
    assert thread["status"] == "idle"
    assert thread["state_updated_at"] > created["state_updated_at"]


async def test_ai_messages_with_tool_calls_serialize_like_langgraph_api(client: LangGraphClient) -> None:
    thread = await client.threads.create(graph_id="echo")
    tool_call = {"id": "call-1", "name": "search", "args": {"q": "x"}}

    await client.threads.update_state(
        thread["thread_id"],
        {"messages": [{"type": "ai", "content": "", "id": "ai-1", "tool_calls": [tool_call]}]},
        as_node="echo",
    )
    (message,) = (await client.threads.get_state(thread["thread_id"]))["values"]["messages"]

    assert message["type"] == "ai"
    assert message["id"] == "ai-1"
    assert message["tool_calls"] == [{"name": "search", "args": {"q": "x"}, "id": "call-1", "type": "tool_call"}]
    assert message["invalid_tool_calls"] == []
    assert "usage_metadata" in message


async def test_state_at_checkpoint_by_id_and_by_object(client: LangGraphClient) -> None:
    thread_id = await _echo_thread(client, "one", "two")
    older = (await client.threads.get_history(thread_id))[1]

    by_id = await client.threads.get_state(thread_id, checkpoint_id=older["checkpoint"]["checkpoint_id"])
    by_object = await client.threads.get_state(
        thread_id, checkpoint={"checkpoint_id": older["checkpoint"]["checkpoint_id"]}
    )

    assert [m["content"] for m in by_id["values"]["messages"]] == ["one"]
    assert by_object["values"] == by_id["values"]
    assert by_id["checkpoint"]["checkpoint_id"] == older["checkpoint"]["checkpoint_id"]


async def test_unknown_checkpoint_is_not_found(client: LangGraphClient) -> None:
    thread_id = await _echo_thread(client, "one")

    with pytest.raises(NotFoundError, match="Checkpoint nope not found"):
        await client.threads.get_state(thread_id, checkpoint_id="nope")
    with pytest.raises(NotFoundError):
        await client.threads.get_state(thread_id, checkpoint={"checkpoint_id": str(uuid.uuid4())})
    with pytest.raises(NotFoundError):
        await client.threads.update_state(
            thread_id, {"messages": []}, as_node="echo", checkpoint_id="1f000000-0000-6000-8000-000000000000"
        )


async def test_update_state_from_an_older_checkpoint_forks_history(client: LangGraphClient) -> None:
    thread_id = await _echo_thread(client, "one", "two")
    first = (await client.threads.get_history(thread_id))[1]

    forked = await client.threads.update_state(
        thread_id,
        {"messages": [_message("fork", 9)]},
        as_node="echo",
        checkpoint={"checkpoint_id": first["checkpoint"]["checkpoint_id"]},
    )
    state = await client.threads.get_state(thread_id)

    assert state["checkpoint"]["checkpoint_id"] == forked["checkpoint_id"]
    assert state["parent_checkpoint"]["checkpoint_id"] == first["checkpoint"]["checkpoint_id"]
    assert [m["content"] for m in state["values"]["messages"]] == ["one", "fork"]


async def test_history_is_newest_first_and_honours_limit_before_and_metadata(client: LangGraphClient) -> None:
    thread_id = await _echo_thread(client, "one", "two", "three")

    full = await client.threads.get_history(thread_id)
    limited = await client.threads.get_history(thread_id, limit=2)
    before = await client.threads.get_history(thread_id, before=full[0]["checkpoint"]["checkpoint_id"])
    before_object = await client.threads.get_history(thread_id, before=full[0]["checkpoint"])
    step_two = await client.threads.get_history(thread_id, metadata={"step": 2})

    assert [len(s["values"]["messages"]) for s in full] == [3, 2, 1]
    assert [s["metadata"]["step"] for s in full] == [2, 1, 0]
    assert all(set(s) == STATE_FIELDS for s in full)
    assert limited == full[:2]
    assert before == full[1:]
    assert before_object == full[1:]
    assert [s["metadata"]["step"] for s in step_two] == [2]


async def test_history_get_variant_matches_post(client: LangGraphClient, server_url: str) -> None:
    thread_id = await _echo_thread(client, "one", "two")
    posted = await client.threads.get_history(thread_id, limit=1)

    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.get(f"/threads/{thread_id}/history", params={"limit": 1})
        bad_limit = await http.get(f"/threads/{thread_id}/history", params={"limit": 0})

    assert response.status_code == 200
    assert response.json() == posted
    assert bad_limit.status_code == 422


async def test_state_select_keeps_only_the_requested_fields(client: LangGraphClient) -> None:
    thread_id = await _echo_thread(client, "one")

    only_messages = await client.threads.get_state(thread_id, select=["values.messages"])
    some_fields = await client.threads.get_state(thread_id, select=["next", "checkpoint"])
    history = await client.threads.get_history(thread_id, select=["values.messages"])

    assert set(only_messages) == {"values"}
    assert only_messages["values"]["messages"][0]["content"] == "one"
    assert set(some_fields) == {"next", "checkpoint"}
    assert all(set(item) == {"values"} for item in history)
    with pytest.raises(UnprocessableEntityError, match="Invalid select"):
        await client.threads.get_state(thread_id, select=["secrets"])


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"values": {"messages": [{"role": "user", "content": "x"}]}, "as_node": "missing"}, "missing"),
        ({"values": {"messages": [{"foo": 1}]}, "as_node": "echo"}, "Invalid state update"),
        ({"values": {"messages": 5}, "as_node": "echo"}, "Invalid state update"),
        ({"values": 5, "as_node": "echo"}, None),
        ({"values": {}, "as_node": 7}, None),
        ({"values": {}, "checkpoint": "abc"}, None),
    ],
)
async def test_bad_state_updates_are_unprocessable(
    client: LangGraphClient, server_url: str, body: dict[str, Any], detail: str | None
) -> None:
    thread_id = await _echo_thread(client, "one")

    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post(f"/threads/{thread_id}/state", json=body)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)
    if detail is not None:
        assert detail in response.json()["detail"]


async def test_update_state_while_a_run_is_in_flight_conflicts(
    client: LangGraphClient, pg: psycopg.AsyncConnection[Any]
) -> None:
    thread_id = await _echo_thread(client, "one")
    await pg.execute(
        "INSERT INTO runs (run_id, thread_id, assistant_id, status) VALUES (%s, %s, %s, 'running')",
        (uuid.uuid4(), uuid.UUID(thread_id), uuid.uuid4()),
    )

    with pytest.raises(ConflictError, match="busy"):
        await client.threads.update_state(thread_id, {"messages": []}, as_node="echo")


async def test_create_with_supersteps_seeds_state(client: LangGraphClient) -> None:
    thread = await client.threads.create(
        graph_id="echo",
        supersteps=[
            {"updates": [{"values": {"messages": [_message("seed", 0)]}, "as_node": "echo"}]},
            {
                "updates": [
                    {"values": {"messages": [{"type": "ai", "content": "reply", "id": "a-1"}]}, "as_node": "echo"}
                ]
            },
        ],
    )

    state = await client.threads.get_state(thread["thread_id"])

    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
    assert thread["values"]["messages"][1]["content"] == "reply"


async def test_create_with_supersteps_needs_a_graph(client: LangGraphClient) -> None:
    with pytest.raises(BadRequestError, match="graph"):
        await client.threads.create(supersteps=[{"updates": [{"values": {}, "as_node": "echo"}]}])


async def test_create_with_invalid_supersteps_creates_nothing(client: LangGraphClient) -> None:
    thread_id = str(uuid.uuid4())

    with pytest.raises(UnprocessableEntityError, match="Invalid supersteps"):
        await client.threads.create(
            thread_id=thread_id, graph_id="echo", supersteps=[{"updates": [{"values": {}, "as_node": "nowhere"}]}]
        )

    with pytest.raises(NotFoundError):
        await client.threads.get(thread_id)


async def test_search_returns_values_messages_for_chat_uis(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    thread = await client.threads.create(graph_id="echo", metadata={"tag": tag})
    await client.threads.update_state(thread["thread_id"], {"messages": [_message("hello", 0)]}, as_node="echo")

    (found,) = await client.threads.search(metadata={"graph_id": "echo", "tag": tag})

    assert found["values"]["messages"][0]["content"] == "hello"
