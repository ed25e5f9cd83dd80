"""System endpoints, CORS and the OpenAPI document."""

from __future__ import annotations

import json

import httpx
import pytest


async def test_ok_answers_and_checks_the_database(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        plain = await http.get("/ok")
        checked = await http.get("/ok", params={"check_db": 1})

    assert plain.json() == {"ok": True}
    assert checked.json() == {"ok": True}


async def test_health_reports_the_database(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.get("/health")

    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_info_reports_version_and_flags(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        info = (await http.get("/info")).json()

    assert info["flags"]["assistants"] is True
    assert info["version"]
    assert info["host"]["kind"] == "self-hosted"


async def test_openapi_documents_every_assistant_route(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        spec = (await http.get("/openapi.json")).json()
        docs = await http.get("/docs")

    assert "/assistants/search" in spec["paths"]
    assert "/assistants/{assistant_id}/schemas" in spec["paths"]
    assert docs.status_code == 200


@pytest.mark.parametrize(
    ("path", "method", "schema"),
    [
        ("/threads/{thread_id}/state", "get", "ThreadState"),
        ("/threads/{thread_id}/state", "post", "ThreadUpdateStateResponse"),
        ("/threads/{thread_id}/state/{checkpoint_id}", "get", "ThreadState"),
        ("/threads/{thread_id}/state/checkpoint", "post", "ThreadState"),
        ("/threads/{thread_id}/history", "get", "ThreadState"),
        ("/threads/{thread_id}/history", "post", "ThreadState"),
        ("/assistants/{assistant_id}/versions", "post", "AssistantVersion"),
        ("/assistants/{assistant_id}/graph", "get", "GraphDrawing"),
        ("/assistants/{assistant_id}/subgraphs", "get", "SubgraphSchemas"),
        ("/assistants/{assistant_id}/schemas", "get", "GraphSchemas"),
    ],
)
async def test_openapi_documents_state_history_and_graph_responses(
    server_url: str, path: str, method: str, schema: str
) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        spec = (await http.get("/openapi.json")).json()

    response = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    assert f"#/components/schemas/{schema}" in json.dumps(response)
    assert spec["components"]["schemas"][schema]["properties"]


async def test_cors_preflight_allows_browser_clients(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.options(
            "/assistants/search",
            headers={
                "Origin": "http://localhost:5173",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-api-key",
            },
        )
        simple = await http.get("/ok", headers={"Origin": "http://localhost:5173"})

    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == "*"
    assert "content-location" in simple.headers["access-control-expose-headers"]
