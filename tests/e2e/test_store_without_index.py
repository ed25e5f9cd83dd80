"""The store without `store.index`: a `query` search falls back to filter/namespace order, scores null."""

from __future__ import annotations

import uuid

from langgraph_sdk.client import LangGraphClient


async def test_query_without_an_index_falls_back_to_newest_first(client: LangGraphClient) -> None:
    namespace = [f"docs-{uuid.uuid4().hex[:8]}"]
    await client.store.put_item(namespace, "fruit", {"text": "apples and oranges"})
    await client.store.put_item(namespace, "zoo", {"text": "zebra xylophone"}, index=["text"])

    found = await client.store.search_items(namespace, query="apples")

    assert [item["key"] for item in found["items"]] == ["zoo", "fruit"]
    assert [item["score"] for item in found["items"]] == [None, None]


async def test_query_without_an_index_still_applies_the_filter(client: LangGraphClient) -> None:
    namespace = [f"docs-{uuid.uuid4().hex[:8]}"]
    await client.store.put_item(namespace, "a", {"text": "apples", "owner": "me"})
    await client.store.put_item(namespace, "b", {"text": "apples", "owner": "them"})

    found = await client.store.search_items(namespace, query="apples", filter={"owner": "them"})

    assert [item["key"] for item in found["items"]] == ["b"]
