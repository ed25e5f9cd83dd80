"""`http.disable_mcp` and `http.disable_a2a` take the interop routes away (404) and leave the API serving."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from aegra.config import AegraConfig, HttpConfig, load_config
from tests.conftest import TEST_GRAPHS_CONFIG
from tests.e2e.test_mcp import JSON_ONLY, rpc


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    config = load_config(TEST_GRAPHS_CONFIG)
    return msgspec.structs.replace(config, http=HttpConfig(disable_mcp=True, disable_a2a=True))


async def test_disabled_mcp_and_a2a_are_not_found(anonymous: httpx.AsyncClient) -> None:
    mcp = await anonymous.post("/mcp", json=rpc("tools/list"), headers=JSON_ONLY)
    a2a = await anonymous.post("/a2a/echo", json=rpc("message/send", {}), headers=JSON_ONLY)
    card = await anonymous.get("/.well-known/agent-card.json", params={"assistant_id": "echo"})
    assistant_card = await anonymous.get("/a2a/echo/.well-known/agent-card.json")
    api = await anonymous.post("/assistants/search", json={})

    assert [mcp.status_code, a2a.status_code, card.status_code, assistant_card.status_code] == [404] * 4
    assert api.status_code == 200
