"""Custom routes served beside the Agent Protocol API (aegra.json `http.app`).

Any ASGI app works: Litestar (below), FastAPI, Starlette or a plain ASGI callable. Its routes are served by the
same server, with the same CORS settings; with `"enable_custom_route_auth": true` they also go through the
`auth` handler, and `request.scope["user"]` is the authenticated user.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, get


@get("/custom/hello")
async def hello() -> dict[str, str]:
    """A public greeting (unless custom route auth is enabled)."""
    return {"hello": "world"}


@get("/custom/whoami")
async def whoami(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Who the `auth` handler says the caller is (None when custom route auth is off)."""
    user = request.scope.get("user")
    if user is None:
        return {"identity": None, "permissions": []}
    return {"identity": user.identity, "permissions": list(user.permissions)}


app = Litestar(route_handlers=[hello, whoami], openapi_config=None)
