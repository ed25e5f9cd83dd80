"""Thread search orders by langgraph-api's `sort_by` + `sort_order` and by Aegra's `order_by: "<field> ASC|DESC"`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server_url) as plain:
        yield plain


async def _three_threads(client: LangGraphClient) -> tuple[str, list[str]]:
    tag = str(uuid.uuid4())
    ids = [(await client.threads.create(metadata={"tag": tag}))["thread_id"] for _ in range(3)]
    return tag, ids


@pytest.mark.parametrize(("order_by", "reverse"), [("created_at ASC", False), ("created_at DESC", True)])
async def test_order_by_sorts_like_sort_by_and_sort_order(
    client: LangGraphClient, http: httpx.AsyncClient, order_by: str, reverse: bool
) -> None:
    tag, ids = await _three_threads(client)

    response = await http.post("/threads/search", json={"metadata": {"tag": tag}, "order_by": order_by})
    sdk = await client.threads.search(
        metadata={"tag": tag}, sort_by="created_at", sort_order="desc" if reverse else "asc"
    )

    assert response.status_code == 200
    found = [thread["thread_id"] for thread in response.json()]
    assert found == (ids[::-1] if reverse else ids)
    assert found == [thread["thread_id"] for thread in sdk]


async def test_sort_by_wins_over_order_by(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    tag, ids = await _three_threads(client)

    response = await http.post(
        "/threads/search",
        json={"metadata": {"tag": tag}, "order_by": "created_at ASC", "sort_by": "created_at", "sort_order": "desc"},
    )

    assert [thread["thread_id"] for thread in response.json()] == ids[::-1]


@pytest.mark.parametrize("order_by", ["bogus ASC", "created_at SIDEWAYS", ""])
async def test_a_bad_order_by_is_422(http: httpx.AsyncClient, order_by: str) -> None:
    response = await http.post("/threads/search", json={"order_by": order_by})

    assert response.status_code == 422
    assert "Invalid order_by" in response.json()["detail"]
