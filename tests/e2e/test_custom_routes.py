"""`http.app` end to end: a Starlette app served beside the API (its own lifespan, route precedence as in
langgraph-api, CORS from `http.cors`), with the API behind auth and the custom routes left open."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph_sdk import get_client

from aegra.config import AegraConfig, load_config
from tests.conftest import REPO_ROOT

CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.custom_routes.json"
ORIGIN = "http://app.example"


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    return load_config(CONFIG)


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server_url) as client:
        yield client


async def test_custom_route_is_served_with_its_lifespan_state(http: httpx.AsyncClient) -> None:
    response = await http.get("/hello")

    assert response.status_code == 200
    assert response.json() == {"hello": "world", "greeting": "started by the custom app's lifespan", "user": None}


async def test_custom_routes_stay_open_while_the_api_requires_auth(http: httpx.AsyncClient) -> None:
    custom = await http.get("/hello")
    api = await http.post("/threads/search", json={})

    assert custom.status_code == 200
    assert api.status_code == 401


async def test_the_api_answers_authenticated_sdk_calls_beside_custom_routes(server_url: str) -> None:
    sdk = get_client(url=server_url, api_key=None, headers={"Authorization": "Bearer token-a"})
    try:
        thread = await sdk.threads.create()
    finally:
        await sdk.http.client.aclose()

    assert thread["metadata"] == {"owner": "user-a"}


async def test_a_custom_route_shadows_an_api_route_with_the_same_path(http: httpx.AsyncClient) -> None:
    info = await http.get("/info")
    thread_path = await http.get("/threads/custom")

    assert info.json() == {"custom": "info"}
    assert thread_path.json() == {"custom": "thread route"}


async def test_health_probe_cannot_be_shadowed(http: httpx.AsyncClient) -> None:
    response = await http.get("/ok")

    assert response.json() == {"ok": True}


async def test_paths_nobody_serves_get_the_api_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/nowhere")

    assert response.status_code == 404
    assert "detail" in response.json()


async def test_a_custom_route_with_another_method_answers_405(http: httpx.AsyncClient) -> None:
    response = await http.post("/hello")

    assert response.status_code == 405


async def test_cors_preflight_on_api_and_custom_routes_uses_http_cors(http: httpx.AsyncClient) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }

    for path in ("/threads/search", "/hello"):
        response = await http.options(path, headers=headers)

        assert response.status_code in (200, 204), path
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"


async def test_cors_headers_reach_custom_route_responses(http: httpx.AsyncClient) -> None:
    allowed = await http.get("/hello", headers={"Origin": ORIGIN})
    foreign = await http.get("/hello", headers={"Origin": "http://evil.example"})

    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    exposed = allowed.headers["access-control-expose-headers"]
    assert "x-request-id" in exposed
    assert "content-location" in exposed
    assert "access-control-allow-origin" not in foreign.headers


async def test_a_disallowed_origin_gets_no_cors_grant_from_the_api(http: httpx.AsyncClient) -> None:
    response = await http.get("/ok", headers={"Origin": "http://evil.example"})

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_custom_routes_appear_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    response = await http.get("/openapi.json")

    paths = response.json()["paths"]
    assert response.status_code == 200
    assert set(paths["/hello"]) == {"get"}
    assert paths["/threads/custom"]["get"]["tags"] == ["Custom Routes"]
    assert "post" in paths["/threads/search"]  # the API's own operations stay
