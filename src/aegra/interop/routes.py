"""Register the interop routes on the app: `/mcp` and the A2A routes, each unless `http` turns it off."""

from __future__ import annotations

from litestar import Litestar, asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from aegra.config import HttpConfig
from aegra.interop.mcp import McpEndpoint


def _mcp_route(endpoint: McpEndpoint) -> ASGIRouteHandler:
    @asgi("/mcp", name="mcp", copy_scope=False)
    async def mcp_route(scope: Scope, receive: Receive, send: Send) -> None:
        await endpoint(scope, receive, send)

    return mcp_route


def mount_interop(app: Litestar, http: HttpConfig, *, max_body_bytes: int) -> None:
    """Serve MCP (`http.disable_mcp` turns it off) and A2A (`http.disable_a2a`) beside the API."""
    if not http.disable_mcp:
        endpoint = McpEndpoint(max_body_bytes=max_body_bytes)
        app.register(_mcp_route(endpoint))
        app.on_shutdown.append(endpoint.close)
