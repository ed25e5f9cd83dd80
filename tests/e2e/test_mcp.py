"""MCP at `/mcp` end to end: the official `mcp` client (`ClientSession` over Streamable HTTP) lists one tool per
assistant and calls them as stateless runs; hostile JSON-RPC gets JSON-RPC errors, not 500s."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

JSON_ONLY = {"Accept": "application/json", "Content-Type": "application/json"}


@asynccontextmanager
async def mcp_session(server_url: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """A user's MCP connection to the server, as an MCP host opens it."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=300) as http,
        streamable_http_client(f"{server_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def rpc(method: str, params: dict[str, object] | None = None, *, id_: int = 1) -> dict[str, object]:
    message: dict[str, object] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


async def test_initialize_announces_tools_and_the_server(server_url: str) -> None:
    async with (
        httpx2.AsyncClient(timeout=300) as http,
        streamable_http_client(f"{server_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        result = await session.initialize()
        await session.send_ping()

    assert result.capabilities.tools is not None
    assert result.server_info.name == "Aegra"


async def test_list_tools_has_one_tool_per_assistant_with_an_object_schema(server_url: str) -> None:
    async with mcp_session(server_url) as session:
        result = await session.list_tools()

    tools = {tool.name: tool for tool in result.tools}
    assert {"agent", "echo", "boom", "factory"} <= set(tools)
    assert all(tool.description for tool in tools.values())
    assert all(tool.input_schema.get("type") == "object" for tool in tools.values())
    assert tools["agent"].input_schema["properties"]["messages"]["type"] == "string"


async def test_call_tool_runs_the_assistant_and_answers_with_its_output(server_url: str) -> None:
    async with mcp_session(server_url) as session:
        result = await session.call_tool("echo", {"messages": "hello over mcp"})

    assert not result.is_error
    values = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert values["messages"][0]["content"] == "hello over mcp"


async def test_call_tool_runs_an_example_agent(server_url: str) -> None:
    async with mcp_session(server_url) as session:
        result = await session.call_tool("agent", {"messages": "What is the weather in Paris?"})

    assert not result.is_error
    messages = json.loads(result.content[0].text)["messages"]  # type: ignore[union-attr]
    assert messages[-1]["type"] == "ai"


async def test_a_graph_error_is_an_error_result_not_a_protocol_error(server_url: str) -> None:
    async with mcp_session(server_url) as session:
        result = await session.call_tool("boom", {"messages": "explode"})

    assert result.is_error
    assert "boom" in result.content[0].text  # type: ignore[union-attr]


async def test_an_unknown_tool_is_an_invalid_params_error(server_url: str) -> None:
    async with mcp_session(server_url) as session:
        with pytest.raises(MCPError) as caught:
            await session.call_tool("no_such_tool", {})

    assert caught.value.error.code == -32602
    assert "no_such_tool" in caught.value.error.message


async def test_plain_json_clients_get_json_responses(anonymous: httpx.AsyncClient) -> None:
    initialize = rpc(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}},
    )

    response = await anonymous.post("/mcp", json=initialize, headers=JSON_ONLY)
    ping = await anonymous.post("/mcp", json=rpc("ping", id_=2), headers=JSON_ONLY)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["result"]["protocolVersion"] == "2025-06-18"
    assert ping.json() == {"jsonrpc": "2.0", "id": 2, "result": {}}


async def test_malformed_json_is_a_parse_error(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method":', headers=JSON_ONLY)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


async def test_an_unknown_method_is_method_not_found(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/mcp", json=rpc("tools/explode"), headers=JSON_ONLY)

    assert response.json()["error"]["code"] == -32601


async def test_bad_params_are_invalid_params(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/mcp", json=rpc("tools/call", {"name": 42}), headers=JSON_ONLY)

    assert response.json()["error"]["code"] == -32602


async def test_no_stream_or_session_to_open_or_end_on_a_stateless_server(anonymous: httpx.AsyncClient) -> None:
    stream = await anonymous.get("/mcp", headers={"Accept": "text/event-stream"})
    end_session = await anonymous.delete("/mcp")

    assert stream.status_code == 405
    assert end_session.status_code == 405


async def test_notifications_are_accepted_without_an_answer(anonymous: httpx.AsyncClient) -> None:
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}

    response = await anonymous.post("/mcp", json=notification, headers=JSON_ONLY)

    assert response.status_code == 202


async def test_not_json_rpc_or_not_acceptable_is_a_client_error(anonymous: httpx.AsyncClient) -> None:
    not_json_rpc = await anonymous.post("/mcp", json={"id": 1, "method": "ping"}, headers=JSON_ONLY)
    html_only = await anonymous.post("/mcp", json=rpc("ping"), headers={"Accept": "text/html"})

    assert not_json_rpc.status_code == 400
    assert "error" in not_json_rpc.json()
    assert html_only.status_code == 406


async def test_clients_that_accept_event_streams_get_sse(anonymous: httpx.AsyncClient) -> None:
    both = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    response = await anonymous.post("/mcp", json=rpc("ping"), headers=both)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert '"result":{}' in response.text.replace(" ", "")


async def test_browser_clients_pass_the_cors_preflight(anonymous: httpx.AsyncClient) -> None:
    preflight = {
        "Origin": "http://inspector.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, mcp-protocol-version",
    }

    response = await anonymous.options("/mcp", headers=preflight)

    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] in ("*", "http://inspector.example")
