"""Register the interop routes on the app: `/mcp`, and A2A's `/a2a/{assistant_id}` with its agent cards, each
unless `http` turns it off. The A2A module (and `a2a-sdk` with it) is imported on the first A2A request."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request, Response, asgi, get, post
from litestar.handlers import ASGIRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_400_BAD_REQUEST
from litestar.types import ASGIApp, Receive, Scope, Send

from aegra.config import HttpConfig
from aegra.errors import ApiError
from aegra.interop.mcp import McpEndpoint

if TYPE_CHECKING:
    from aegra.interop.a2a import A2AEndpoint

INVALID_PARAMS = -32602
CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")


def _mcp_route(endpoint: McpEndpoint) -> ASGIRouteHandler:
    @asgi("/mcp", name="mcp", copy_scope=False)
    async def mcp_route(scope: Scope, receive: Receive, send: Send) -> None:
        await endpoint(scope, receive, send)

    return mcp_route


async def import_in_thread(module: str) -> None:
    """Import a heavy module off the event loop (the first MCP or A2A request), so other requests go on."""
    await asyncio.to_thread(importlib.import_module, module)


class LazyA2A:
    """The A2A endpoint, built (importing `a2a-sdk`) on first use."""

    def __init__(self) -> None:
        self._endpoint: A2AEndpoint | None = None

    async def endpoint(self) -> A2AEndpoint:
        if self._endpoint is None:
            await import_in_thread("aegra.interop.a2a")
            from aegra.interop.a2a import A2AEndpoint

            self._endpoint = A2AEndpoint()
        return self._endpoint


def card_error(message: str) -> Response[Any]:
    """langgraph-api answers a card it cannot serve with 400 and a JSON-RPC error object."""
    return Response({"error": {"code": INVALID_PARAMS, "message": message}}, status_code=HTTP_400_BAD_REQUEST)


async def card_response(scope: Scope, assistant_id: str | None) -> Response[Any]:
    """The assistant's agent card; an assistant that is unknown or hidden from the caller is a card error."""
    if not assistant_id:
        return card_error("Missing required query parameter: assistant_id")
    await import_in_thread("aegra.interop.a2a")
    from aegra.interop.a2a import agent_card

    try:
        return Response(await agent_card(scope, assistant_id))
    except ApiError as exc:
        if exc.status_code not in (404, 422):  # refused by auth, or the database is down: as on the REST API
            raise
        return card_error(f"Assistant '{assistant_id}' not found")


def _a2a_routes(lazy: LazyA2A) -> list[Any]:
    @post("/a2a/{assistant_id:str}", name="a2a", include_in_schema=False)
    async def a2a_rpc(request: Request[Any, Any, Any], assistant_id: FromPath[str]) -> ASGIApp:
        return (await lazy.endpoint()).app(await request.body())

    @get(
        [f"/a2a/{{assistant_id:str}}{path}" for path in ("", *CARD_PATHS)],
        name="a2a_agent_card",
        include_in_schema=False,
    )
    async def assistant_card(scope: Scope, assistant_id: FromPath[str]) -> Response[Any]:
        return await card_response(scope, assistant_id)  # the agent's own URL answers GET with it too

    @get(CARD_PATHS[0], name="a2a_root_agent_card", include_in_schema=False)
    async def root_card(scope: Scope, assistant_id: FromQuery[str | None] = None) -> Response[Any]:
        return await card_response(scope, assistant_id)

    return [a2a_rpc, assistant_card, root_card]


def mount_interop(app: Litestar, http: HttpConfig, *, max_body_bytes: int) -> None:
    """Serve MCP (`http.disable_mcp` turns it off) and A2A (`http.disable_a2a`) beside the API."""
    if not http.disable_mcp:
        endpoint = McpEndpoint(max_body_bytes=max_body_bytes)
        app.register(_mcp_route(endpoint))
        app.on_shutdown.append(endpoint.close)
    if not http.disable_a2a:
        for route in _a2a_routes(LazyA2A()):
            app.register(route)
