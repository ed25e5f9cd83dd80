"""Authenticate every protocol request with the user's `@auth.authenticate` handler."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
import structlog
from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

from aegra.auth.handlers import AuthHandlers, RequestParts
from aegra.errors import ApiError
from aegra.inspector.routes import is_inspector_asset

logger = structlog.get_logger(__name__)

# Probes, docs, the server description and the inspector's static files stay open (Studio and load balancers
# read them unauthenticated; the inspector page must load before its user can log in).
PUBLIC_PATHS = frozenset({"/", "/ok", "/info", "/health", "/metrics", "/openapi.json"})
PUBLIC_PREFIXES = ("/docs",)
USER_SCOPE_KEY = "aegra_user"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or is_inspector_asset(path)


@dataclass(frozen=True, slots=True)
class Credentials:
    """`scope["auth"]` for custom routes (Starlette's `request.auth.scopes` are the user's permissions)."""

    scopes: list[str]


class AuthenticationMiddleware:
    """Pure ASGI middleware: 401/403 JSON for rejected requests, the user in `scope` for the rest.

    The user lands in `scope["state"]["aegra_user"]` (read by the API) and in `scope["user"]` / `scope["auth"]`
    (read by custom routes as `request.user` / `request.auth`). `protect_all` also guards the paths that are
    public on the API (custom routes that shadow them, with `http.enable_custom_route_auth`).

    OPTIONS is authenticated like any other method: CORS preflights never get here, the CORS middleware in front
    of the API and of the custom routes answers them itself (and refuses origins it does not allow).
    """

    def __init__(self, app: ASGIApp, *, handlers: AuthHandlers, protect_all: bool = False) -> None:
        self.app = app
        self.handlers = handlers
        self.protect_all = protect_all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in (ScopeType.HTTP, ScopeType.WEBSOCKET):
            await self.app(scope, receive, send)
            return
        if not self.protect_all and is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        parts = RequestParts(
            method=scope["method"] if scope["type"] == ScopeType.HTTP else "GET",
            path=scope["path"],
            path_params=scope.get("path_params") or {},
            query_params=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            headers={name.lower(): value for name, value in scope.get("headers", ())},
            request=Request(scope, receive)
            if self.handlers.wants_request and scope["type"] == ScopeType.HTTP
            else None,
        )
        try:
            user = await self.handlers.authenticate(parts)
        except ApiError as exc:
            if scope["type"] == ScopeType.WEBSOCKET:  # closing before accepting is answered with HTTP 403
                await send({"type": "websocket.close", "code": 1008, "reason": exc.detail})
                return
            await _send_error(send, exc.status_code, exc.detail)
            return
        scope.setdefault("state", {})[USER_SCOPE_KEY] = user
        scope["user"] = user
        scope["auth"] = Credentials(scopes=list(user.permissions))
        await self.app(scope, receive, send)


async def _send_error(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
