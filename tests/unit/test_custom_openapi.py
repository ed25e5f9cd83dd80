"""The custom app's routes in `/openapi.json`: its own document when it has one, else one operation per route."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from aegra.api.custom_openapi import custom_openapi, merge_openapi

pytestmark = pytest.mark.unit


@get("/custom/ping")
async def ping() -> dict[str, str]:
    """Answers pong."""
    return {"ping": "pong"}


async def _pong(request: Any) -> JSONResponse:
    """Pong, from Starlette.

    More words."""
    return JSONResponse({})


async def _socket(websocket: Any) -> None:
    return None


def test_a_litestar_app_without_openapi_lists_its_routes() -> None:
    spec = custom_openapi(Litestar(route_handlers=[ping], openapi_config=None))

    assert spec is not None
    operation = spec["paths"]["/custom/ping"]["get"]
    assert operation["summary"] == "Answers pong."
    assert operation["operationId"] == "ping_get"


def test_a_litestar_app_with_openapi_gives_its_own_document() -> None:
    spec = custom_openapi(Litestar(route_handlers=[ping], openapi_config=OpenAPIConfig(title="mine", version="1")))

    assert spec is not None
    assert "get" in spec["paths"]["/custom/ping"]
    assert spec["info"]["title"] == "mine"


def test_a_starlette_app_lists_its_http_routes_only() -> None:
    app = Starlette(routes=[Route("/pong", _pong, methods=["GET", "POST"]), WebSocketRoute("/ws", _socket)])

    spec = custom_openapi(app)

    assert spec is not None
    assert set(spec["paths"]) == {"/pong"}
    assert set(spec["paths"]["/pong"]) == {"get", "post"}
    assert spec["paths"]["/pong"]["post"]["summary"] == "Pong, from Starlette."


def test_an_app_without_routes_adds_nothing() -> None:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        return None

    document = {"openapi": "3.1.0", "paths": {"/ok": {"get": {}}}}

    assert custom_openapi(bare) is None
    assert merge_openapi(document, None) is document


def test_custom_operations_are_merged_into_the_document() -> None:
    document = {"paths": {"/threads": {"post": {"operationId": "api"}}}, "components": {"schemas": {"A": {}}}}
    custom = {
        "paths": {"/threads": {"get": {"operationId": "mine"}}, "/mine": {"get": {}}},
        "components": {"schemas": {"B": {}}},
    }

    merged = merge_openapi(document, custom)

    assert merged["paths"]["/threads"] == {"post": {"operationId": "api"}, "get": {"operationId": "mine"}}
    assert "/mine" in merged["paths"]
    assert set(merged["components"]["schemas"]) == {"A", "B"}
