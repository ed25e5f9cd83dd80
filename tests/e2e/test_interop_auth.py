"""MCP and A2A under `auth` (tests/graphs/auth.py): the same authenticate handler and owner filters as the REST
API, so no token is 401 and one user never sees, calls or continues another user's assistants, threads or tasks."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from a2a.types import a2a_pb2 as a2a
from langgraph_sdk import get_client
from mcp.shared.exceptions import MCPError

from aegra.config import AegraConfig, load_config
from tests.conftest import REPO_ROOT
from tests.e2e.test_a2a import a2a_client, answer_text, send, user_message
from tests.e2e.test_mcp import JSON_ONLY, mcp_session, rpc

AUTH_CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.auth.json"
ALICE = {"Authorization": "Bearer token-a"}
BOB = {"Authorization": "Bearer token-b"}


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    return load_config(AUTH_CONFIG)


async def _own_assistant(server_url: str, graph_id: str) -> AsyncIterator[dict[str, str]]:
    """An assistant of Alice's own on `graph_id` (named uniquely, so it is one tool): the owner filters hide the
    system assistants from searches and reads, as they would on the REST API."""
    sdk = get_client(url=server_url, api_key=None, headers=ALICE)
    name = f"alice_{graph_id}_{uuid.uuid4().hex[:8]}"
    assistant = await sdk.assistants.create(graph_id, name=name)
    yield {"name": name, "id": assistant["assistant_id"]}
    await sdk.assistants.delete(assistant["assistant_id"])
    await sdk.http.client.aclose()


@pytest.fixture
async def alice_assistant(server_url: str) -> AsyncIterator[dict[str, str]]:
    async for assistant in _own_assistant(server_url, "echo"):
        yield assistant


@pytest.fixture
async def alice_whoami(server_url: str) -> AsyncIterator[dict[str, str]]:
    async for assistant in _own_assistant(server_url, "whoami"):
        yield assistant


async def test_mcp_without_a_token_is_unauthorized(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/mcp", json=rpc("tools/list"), headers=JSON_ONLY)

    assert response.status_code == 401
    assert response.json() == {"detail": "Missing bearer token"}


async def test_a2a_without_a_token_is_unauthorized(anonymous: httpx.AsyncClient) -> None:
    card = await anonymous.get("/a2a/echo/.well-known/agent-card.json")
    message = await anonymous.post("/a2a/echo", json=rpc("message/send", {}), headers=JSON_ONLY)

    assert card.status_code == 401
    assert message.status_code == 401


async def test_mcp_tools_are_the_callers_assistants_only(server_url: str, alice_assistant: dict[str, str]) -> None:
    name = alice_assistant["name"]
    async with mcp_session(server_url, ALICE) as alice:
        alice_tools = {tool.name for tool in (await alice.list_tools()).tools}
    async with mcp_session(server_url, BOB) as bob:
        bob_tools = {tool.name for tool in (await bob.list_tools()).tools}
        with pytest.raises(MCPError) as caught:
            await bob.call_tool(name, {"messages": "let me in"})

    assert name in alice_tools
    assert name not in bob_tools
    assert caught.value.error.code == -32602


async def test_mcp_tool_calls_run_as_the_caller(server_url: str, alice_whoami: dict[str, str]) -> None:
    async with mcp_session(server_url, ALICE) as session:
        result = await session.call_tool(alice_whoami["name"], {})

    assert not result.is_error
    assert json.loads(result.content[0].text)["user_identity"] == "user-a"  # type: ignore[union-attr]


async def test_a2a_another_users_context_and_task_stay_hidden(server_url: str, alice_assistant: dict[str, str]) -> None:
    async with a2a_client(server_url, alice_assistant["id"], headers=ALICE) as alice:
        task = (await send(alice, user_message("alice's secret")))[-1].task
        fetched = await alice.get_task(a2a.GetTaskRequest(id=task.id))
    message = {
        "messageId": "m1",
        "role": "user",
        "parts": [{"kind": "text", "text": "hi"}],
        "contextId": task.context_id,
    }

    async with httpx.AsyncClient(base_url=server_url, headers={**BOB, **JSON_ONLY}) as bob:
        peek = await bob.post(f"/a2a/{alice_assistant['id']}", json=rpc("tasks/get", {"id": task.id}))
        continued = await bob.post("/a2a/echo", json=rpc("message/send", {"message": message}))

    assert answer_text(task) == "echo: alice's secret"
    assert fetched.status.state == a2a.TASK_STATE_COMPLETED
    assert peek.json()["error"]["code"] == -32001
    assert continued.json()["error"]["code"] == -32602, continued.text
    assert "secret" not in continued.text
    sdk = get_client(url=server_url, api_key=None, headers=ALICE)
    try:
        state = await sdk.threads.get_state(task.context_id)
    finally:
        await sdk.http.client.aclose()
    assert len(state["values"]["messages"]) == 2  # Bob's message never reached Alice's thread


async def test_a2a_card_of_another_users_assistant_is_not_served(
    server_url: str, alice_assistant: dict[str, str]
) -> None:
    path = f"/a2a/{alice_assistant['id']}/.well-known/agent-card.json"

    async with httpx.AsyncClient(base_url=server_url) as http:
        own = await http.get(path, headers=ALICE)
        other = await http.get(path, headers=BOB)

    assert own.status_code == 200
    assert own.json()["name"] == alice_assistant["name"]
    assert other.status_code == 400
    assert other.json()["error"]["code"] == -32602
