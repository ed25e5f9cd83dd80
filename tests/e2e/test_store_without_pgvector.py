"""`store.index` configured but pgvector unusable: the server still starts and serves, says semantic search is
off in `GET /info`, and the store (and graphs that use it) keep working with filter/namespace search."""

from __future__ import annotations

import uuid

import httpx
import msgspec
from langgraph_sdk import get_client

from aegra.config import AegraConfig, StoreConfig, StoreIndexConfig, load_config
from aegra.settings import Settings
from tests.conftest import TEST_GRAPHS_CONFIG, running_server


def _indexed() -> AegraConfig:
    store = StoreConfig(index=StoreIndexConfig(dims=64, embed="../../examples/embeddings.py:embed", fields=["text"]))
    return msgspec.structs.replace(load_config(TEST_GRAPHS_CONFIG), store=store)


async def test_server_without_pgvector_serves_and_reports_semantic_search_off(
    database_without_pgvector_rights: str,
) -> None:
    url = database_without_pgvector_rights
    namespace = [f"docs-{uuid.uuid4().hex[:8]}"]
    async with running_server(Settings(database_url=url, n_jobs_per_worker=2), _indexed()) as server:
        client = get_client(url=server, api_key=None)
        async with httpx.AsyncClient(base_url=server) as http:
            info = (await http.get("/info")).json()
        await client.store.put_item(namespace, "old", {"text": "zebra"})
        await client.store.put_item(namespace, "new", {"text": "apples"})
        found = await client.store.search_items(namespace, query="apples")
        user = f"u-{uuid.uuid4().hex[:8]}"
        await client.runs.wait(None, "memory", input={"user_id": user, "fact": "likes tea"})
        second = await client.runs.wait(None, "memory", input={"user_id": user, "fact": "walks a dog"})
        await client.http.client.aclose()

    assert info["flags"]["semantic_search"] is False
    assert info["store"]["semantic_search"] is False
    assert "may not create the vector extension" in info["store"]["semantic_search_off_reason"]
    assert [(item["key"], item["score"]) for item in found["items"]] == [("new", None), ("old", None)]
    assert second["recalled"] == ["likes tea"]  # a graph using the store keeps working
