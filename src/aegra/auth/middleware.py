"""Authenticate every protocol request with the user's `@auth.authenticate` handler."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
import structlog
from litestar.types import ASGIApp, Receive, Scope, Send

from aegra.auth.handlers import AuthHandlers, RequestParts
from aegra.errors import ApiError

logger = structlog.get_logger(__name__)

# Probes, docs and the server description stay open (Studio and load balancers read them unauthenticated).
PUBLIC_PATHS = frozenset({"/", "/ok", "/info", "/health", "/metrics", "/openapi.json"})
PUBLIC_PREFIXES = ("/docs",)
USER_SCOPE_KEY = "aegra_user"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class AuthenticationMiddleware:
    """Pure ASGI middleware: 401/403 JSON for rejected requests, the user in `scope` for the rest."""

    def __init__(self, app: ASGIApp, *, handlers: AuthHandlers, protect_custom_routes: bool = False) -> None:
        self.app = app
        self.handlers = handlers
        self.protect_custom_routes = protect_custom_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        parts = RequestParts(
            method=scope["method"],
            path=scope["path"],
            path_params=scope.get("path_params") or {},
            query_params=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            headers={name.lower(): value for name, value in scope.get("headers", ())},
        )
        try:
            user = await self.handlers.authenticate(parts)
        except ApiError as exc:
            await _send_error(send, exc.status_code, exc.detail)
            return
        scope.setdefault("state", {})[USER_SCOPE_KEY] = user  # type: ignore[typeddict-unknown-key]
        await self.app(scope, receive, send)


async def _send_error(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
