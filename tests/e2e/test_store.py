"""`client.store.*` through the real SDK against a server whose store has a pgvector index and a TTL sweeper."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient
from psycopg.rows import dict_row

from aegra.config import AegraConfig, StoreConfig, StoreIndexConfig, TtlConfig, load_config
from aegra.db.url import psycopg_conninfo
from tests.conftest import TEST_GRAPHS_CONFIG

SWEEP_INTERVAL_MINUTES = 0.01  # 0.6 s, so a test can watch the sweeper delete an expired row
SWEEP_DEADLINE_SECONDS = 30.0


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    """The test graphs, plus a store embedding `text` with the deterministic test embedding."""
    config = load_config(TEST_GRAPHS_CONFIG)
    store = StoreConfig(
        index=StoreIndexConfig(dims=64, embed="../../examples/embeddings.py:embed", fields=["text"]),
        ttl=TtlConfig(sweep_interval_minutes=SWEEP_INTERVAL_MINUTES),
    )
    return msgspec.structs.replace(config, store=store)


@pytest.fixture
async def semantic_search(server_url: str) -> None:
    """Semantic search needs pgvector: the embedded server always has it; a DATABASE_URL server may not, and
    then (only then) these tests are skipped with the server's own reason."""
    async with httpx.AsyncClient(base_url=server_url) as http:
        store = (await http.get("/info")).json()["store"]
    if not store["semantic_search"] and os.environ.get("DATABASE_URL"):
        pytest.skip(f"the DATABASE_URL server cannot do semantic search: {store['semantic_search_off_reason']}")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
    """A direct connection to the module's database, to look at what the store wrote."""
    conn = await psycopg.AsyncConnection.connect(psycopg_conninfo(database_url), autocommit=True, row_factory=dict_row)
    yield conn
    await conn.close()


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def test_put_then_get_returns_the_item(client: LangGraphClient) -> None:
    namespace = ["users", unique("u")]

    await client.store.put_item(namespace, "prefs", {"theme": "dark", "n": 1})
    item = await client.store.get_item(namespace, "prefs")

    assert item["namespace"] == namespace
    assert item["key"] == "prefs"
    assert item["value"] == {"theme": "dark", "n": 1}
    assert item["created_at"].endswith("+00:00")
    assert item["updated_at"].endswith("+00:00")


async def test_get_missing_item_returns_none(client: LangGraphClient) -> None:
    assert await client.store.get_item(["users", unique("u")], "nothing") is None


async def test_get_missing_item_is_200_null_on_the_wire(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.get("/store/items", params={"namespace": "nobody.here", "key": "k"})

    assert response.status_code == 200
    assert response.content == b"null"


async def test_put_again_replaces_the_value_and_keeps_created_at(client: LangGraphClient) -> None:
    namespace = [unique("ns")]
    await client.store.put_item(namespace, "k", {"v": 1})
    first = await client.store.get_item(namespace, "k")

    await client.store.put_item(namespace, "k", {"v": 2})
    second = await client.store.get_item(namespace, "k")

    assert second["value"] == {"v": 2}
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] > first["updated_at"]


async def test_put_and_delete_answer_204_with_no_body(server_url: str) -> None:
    body = {"namespace": [unique("ns")], "key": "k"}
    async with httpx.AsyncClient(base_url=server_url) as http:
        put = await http.put("/store/items", json={**body, "value": {"a": 1}})
        deleted = await http.request("DELETE", "/store/items", json=body)

    assert (put.status_code, put.content) == (204, b"")
    assert (deleted.status_code, deleted.content) == (204, b"")


async def test_delete_removes_the_item_and_tolerates_missing_items(client: LangGraphClient) -> None:
    namespace = [unique("ns")]
    await client.store.put_item(namespace, "k", {"v": 1})

    await client.store.delete_item(namespace, "k")
    await client.store.delete_item(namespace, "k")

    assert await client.store.get_item(namespace, "k") is None


async def test_search_scopes_to_the_namespace_prefix_newest_first(client: LangGraphClient) -> None:
    root = unique("root")
    await client.store.put_item([root, "a"], "one", {"n": 1})
    await client.store.put_item([root, "b"], "two", {"n": 2})
    await client.store.put_item([f"{root}x"], "sibling", {"n": 3})

    found = await client.store.search_items([root])

    assert [item["key"] for item in found["items"]] == ["two", "one"]
    assert all(item["score"] is None for item in found["items"])


async def test_search_filters_by_equality_and_numeric_operators(client: LangGraphClient) -> None:
    root = unique("root")
    for n in (2, 9, 10, 11):
        await client.store.put_item([root], f"k{n}", {"n": n, "kind": "even" if n % 2 == 0 else "odd"})

    even = await client.store.search_items([root], filter={"kind": "even"})
    above_nine = await client.store.search_items([root], filter={"n": {"$gt": 9}})
    window = await client.store.search_items([root], filter={"n": {"$gte": 9, "$lt": 11}, "kind": {"$ne": "even"}})

    assert sorted(item["key"] for item in even["items"]) == ["k10", "k2"]
    assert sorted(item["key"] for item in above_nine["items"]) == ["k10", "k11"]
    assert [item["key"] for item in window["items"]] == ["k9"]


async def test_search_filter_on_a_nested_object_is_equality(client: LangGraphClient) -> None:
    root = unique("root")
    await client.store.put_item([root], "a", {"meta": {"lang": "en"}})
    await client.store.put_item([root], "b", {"meta": {"lang": "fr"}})

    found = await client.store.search_items([root], filter={"meta": {"lang": "fr"}})

    assert [item["key"] for item in found["items"]] == ["b"]


async def test_search_pages_with_limit_and_offset(client: LangGraphClient) -> None:
    root = unique("root")
    for i in range(5):
        await client.store.put_item([root], f"k{i}", {"i": i})

    first = await client.store.search_items([root], limit=2)
    second = await client.store.search_items([root], limit=2, offset=2)
    last = await client.store.search_items([root], limit=2, offset=4)

    keys = [item["key"] for page in (first, second, last) for item in page["items"]]
    assert keys == ["k4", "k3", "k2", "k1", "k0"]


async def test_list_namespaces_by_prefix_suffix_depth_and_wildcard(client: LangGraphClient) -> None:
    root = unique("root")
    for namespace in ([root, "alice", "notes"], [root, "alice", "todos"], [root, "bob", "notes"], [root, "carol"]):
        await client.store.put_item(namespace, "k", {"x": 1})

    everything = await client.store.list_namespaces(prefix=[root])
    shallow = await client.store.list_namespaces(prefix=[root], max_depth=2)
    notes = await client.store.list_namespaces(prefix=[root, "*"], suffix=["notes"])
    paged = await client.store.list_namespaces(prefix=[root], limit=1, offset=1)

    assert everything["namespaces"] == [
        [root, "alice", "notes"],
        [root, "alice", "todos"],
        [root, "bob", "notes"],
        [root, "carol"],
    ]
    assert shallow["namespaces"] == [[root, "alice"], [root, "bob"], [root, "carol"]]
    assert notes["namespaces"] == [[root, "alice", "notes"], [root, "bob", "notes"]]
    assert paged["namespaces"] == [[root, "alice", "todos"]]


async def test_list_namespaces_accepts_an_empty_body(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/store/namespaces", json={})

    assert response.status_code == 200
    assert isinstance(response.json()["namespaces"], list)


@pytest.mark.usefixtures("semantic_search")
async def test_semantic_search_puts_the_nearest_item_first(client: LangGraphClient) -> None:
    namespace = [unique("docs")]
    await client.store.put_item(namespace, "fruit", {"text": "apples and oranges"})
    await client.store.put_item(namespace, "zoo", {"text": "zebra xylophone"})
    await client.store.put_item(namespace, "pie", {"text": "grandma bakes an apple pie"})

    found = await client.store.search_items(namespace, query="apples")

    keys = [item["key"] for item in found["items"]]
    scores = [item["score"] for item in found["items"]]
    assert keys[0] == "fruit"
    assert keys[-1] == "zoo"
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(score, float) for score in scores)


@pytest.mark.usefixtures("semantic_search")
async def test_semantic_search_lists_unembedded_items_last_with_null_score(client: LangGraphClient) -> None:
    namespace = [unique("docs")]
    await client.store.put_item(namespace, "d1", {"text": "apples and oranges"})
    await client.store.put_item(namespace, "d2", {"text": "zebra xylophone"})
    await client.store.put_item(namespace, "d3", {"text": "apples, not indexed"}, index=False)
    await client.store.put_item(namespace, "d4", {"title": "no text field at all"})

    found = await client.store.search_items(namespace, query="apples")

    assert [(item["key"], item["score"] is None) for item in found["items"]] == [
        ("d1", False),
        ("d2", False),
        ("d4", True),
        ("d3", True),
    ]


@pytest.mark.usefixtures("semantic_search")
async def test_semantic_search_pages_through_every_item_once(client: LangGraphClient) -> None:
    namespace = [unique("docs")]
    for i in range(12):
        await client.store.put_item(namespace, f"e{i}", {"text": f"apple number {i} " + "x" * i})
    for i in range(3):
        await client.store.put_item(namespace, f"plain{i}", {"other": i})

    pages = [await client.store.search_items(namespace, query="apple", limit=2, offset=o) for o in range(0, 16, 2)]

    keys = [item["key"] for page in pages for item in page["items"]]
    scores = [item["score"] for page in pages for item in page["items"] if item["score"] is not None]
    assert sorted(keys) == sorted([f"e{i}" for i in range(12)] + [f"plain{i}" for i in range(3)])
    assert len(scores) == 12
    assert scores == sorted(scores, reverse=True)


@pytest.mark.usefixtures("semantic_search")
async def test_put_index_fields_choose_what_gets_embedded(client: LangGraphClient) -> None:
    namespace = [unique("docs")]
    await client.store.put_item(namespace, "by-title", {"title": "apples", "text": "zebra"}, index=["title"])
    await client.store.put_item(namespace, "by-text", {"title": "zebra", "text": "zebra"})

    found = await client.store.search_items(namespace, query="apples")

    assert [item["key"] for item in found["items"]] == ["by-title", "by-text"]
    assert found["items"][0]["score"] > found["items"][1]["score"]


@pytest.mark.usefixtures("semantic_search")
async def test_search_with_filter_and_query_ranks_only_matching_items(client: LangGraphClient) -> None:
    namespace = [unique("docs")]
    await client.store.put_item(namespace, "mine", {"text": "apples", "owner": "me"})
    await client.store.put_item(namespace, "theirs", {"text": "apples", "owner": "them"})

    found = await client.store.search_items(namespace, query="apples", filter={"owner": "me"})

    assert [item["key"] for item in found["items"]] == ["mine"]
    assert found["items"][0]["score"] == pytest.approx(1.0)


async def _expiry(db: psycopg.AsyncConnection[dict[str, Any]], namespace: list[str], key: str) -> dict[str, Any]:
    cursor = await db.execute(
        "SELECT expires_at, ttl_minutes, expires_at - now() AS remaining FROM store WHERE prefix = %s AND key = %s",
        (".".join(namespace), key),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def _expire_in(
    db: psycopg.AsyncConnection[dict[str, Any]], namespace: list[str], key: str, seconds: float
) -> None:
    """Move an item's expiry to `seconds` from now (negative: already expired), behind the store's back."""
    await db.execute(
        "UPDATE store SET expires_at = now() + make_interval(secs => %s) WHERE prefix = %s AND key = %s",
        (seconds, ".".join(namespace), key),
    )


async def _item_with_five_of_thirty_minutes_left(
    client: LangGraphClient, db: psycopg.AsyncConnection[dict[str, Any]]
) -> list[str]:
    namespace = [unique("ttl")]
    await client.store.put_item(namespace, "k", {"v": 1}, ttl=30)
    await _expire_in(db, namespace, "k", 5 * 60)
    return namespace


async def test_put_ttl_sets_the_expiry_in_minutes(
    client: LangGraphClient, db: psycopg.AsyncConnection[dict[str, Any]]
) -> None:
    namespace = [unique("ttl")]

    await client.store.put_item(namespace, "k", {"v": 1}, ttl=30)
    await client.store.put_item(namespace, "forever", {"v": 1})

    row = await _expiry(db, namespace, "k")
    assert row["ttl_minutes"] == 30
    assert 29 * 60 < row["remaining"].total_seconds() <= 30 * 60
    assert (await _expiry(db, namespace, "forever"))["expires_at"] is None


async def test_get_refresh_ttl_controls_whether_reading_extends_the_expiry(
    client: LangGraphClient, db: psycopg.AsyncConnection[dict[str, Any]]
) -> None:
    namespace = await _item_with_five_of_thirty_minutes_left(client, db)

    await client.store.get_item(namespace, "k", refresh_ttl=False)
    unrefreshed = await _expiry(db, namespace, "k")
    await client.store.get_item(namespace, "k", refresh_ttl=True)
    refreshed = await _expiry(db, namespace, "k")

    assert unrefreshed["remaining"].total_seconds() <= 5 * 60
    assert refreshed["remaining"].total_seconds() > 29 * 60


async def test_search_refresh_ttl_extends_the_expiry_of_returned_items(
    client: LangGraphClient, db: psycopg.AsyncConnection[dict[str, Any]]
) -> None:
    namespace = await _item_with_five_of_thirty_minutes_left(client, db)

    await client.store.search_items(namespace, refresh_ttl=True)

    assert (await _expiry(db, namespace, "k"))["remaining"].total_seconds() > 29 * 60


async def test_expired_item_is_hidden_at_once_and_then_swept(
    client: LangGraphClient, db: psycopg.AsyncConnection[dict[str, Any]]
) -> None:
    namespace = [unique("ttl")]
    lonely = [unique("ttl")]
    await client.store.put_item(namespace, "old", {"v": 1}, ttl=30)
    await client.store.put_item(namespace, "fresh", {"v": 2}, ttl=30)
    await client.store.put_item(lonely, "old", {"v": 3}, ttl=30)
    await _expire_in(db, namespace, "old", -1)
    await _expire_in(db, lonely, "old", -1)

    hidden = await client.store.get_item(namespace, "old")
    listed = await client.store.search_items(namespace)
    namespaces = await client.store.list_namespaces(prefix=lonely)
    deadline = time.monotonic() + SWEEP_DEADLINE_SECONDS
    remaining = 1
    while remaining and time.monotonic() < deadline:
        cursor = await db.execute(
            "SELECT count(*) AS n FROM store WHERE prefix = %s AND key = 'old'", (".".join(namespace),)
        )
        remaining = (await cursor.fetchone() or {"n": 0})["n"]
        if remaining:
            await asyncio.sleep(0.1)  # polling the sweeper's effect, bounded by the deadline

    assert hidden is None
    assert [item["key"] for item in listed["items"]] == ["fresh"]
    assert namespaces["namespaces"] == []
    assert remaining == 0
    assert await client.store.get_item(namespace, "fresh") is not None


@pytest.fixture
async def runs_api(server_url: str) -> None:
    """Skip until the server serves runs (built in parallel with the store); then the test runs by itself."""
    async with httpx.AsyncClient(base_url=server_url) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    if "/threads/{thread_id}/runs/wait" not in paths:
        pytest.skip("the runs API is not registered yet")


@pytest.mark.usefixtures("runs_api")
async def test_graph_run_sees_api_memories_and_the_api_sees_the_graph_s(client: LangGraphClient) -> None:
    user_id = unique("user")
    await client.store.put_item(["memories", user_id], "from-api", {"text": "likes tea", "source": "api"})
    thread = await client.threads.create()

    result = await client.runs.wait(thread["thread_id"], "memory", input={"user_id": user_id, "fact": "lives in Oslo"})
    found = await client.store.search_items(["memories", user_id], filter={"source": "graph"})

    assert result["recalled"] == ["likes tea"]
    assert [item["value"]["text"] for item in found["items"]] == ["lives in Oslo"]


BAD_REQUESTS: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
    ("PUT", "/store/items", {"namespace": ["a.b"], "key": "k", "value": {}}, 422, "without periods"),
    ("PUT", "/store/items", {"namespace": ["a", ""], "key": "k", "value": {}}, 422, "non-empty string"),
    ("PUT", "/store/items", {"namespace": [], "key": "k", "value": {}}, 422, "at least one label"),
    ("PUT", "/store/items", {"namespace": ["langgraph"], "key": "k", "value": {}}, 422, "reserved"),
    ("PUT", "/store/items", {"namespace": ["a\u0000"], "key": "k", "value": {}}, 422, "NUL"),
    ("PUT", "/store/items", {"namespace": ["n" * 600, "m" * 600], "key": "k", "value": {}}, 422, "too long"),
    ("PUT", "/store/items", {"namespace": [1], "key": "k", "value": {}}, 422, "Expected `str`"),
    ("PUT", "/store/items", {"namespace": "a", "key": "k", "value": {}}, 422, "Expected `array`"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": "text"}, 422, "Expected `object`"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": [1, 2]}, 422, "Expected `object`"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k"}, 422, "value"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "", "value": {}}, 422, "non-empty"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k" * 5000, "value": {}}, 422, "Key is too long"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k\u0000", "value": {}}, 422, "NUL"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {"s": "x\u0000"}}, 422, "NUL"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "ttl": 0}, 422, "ttl"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "ttl": "soon"}, 422, "ttl"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "index": True}, 422, "not true"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "index": [""]}, 422, "field paths"),
    ("GET", "/store/items?namespace=a.b", None, 400, "Key is required"),
    ("GET", "/store/items?namespace=a.b&key=", None, 400, "Key is required"),
    ("GET", "/store/items?key=k", None, 422, "non-empty string"),
    ("GET", "/store/items?namespace=a..b&key=k", None, 422, "non-empty string"),
    ("GET", "/store/items?namespace=a&key=k&refresh_ttl=maybe", None, 422, "refresh_ttl"),
    ("DELETE", "/store/items", {"namespace": ["a.b"], "key": "k"}, 422, "without periods"),
    ("DELETE", "/store/items", {"namespace": ["a"], "key": ""}, 422, "non-empty"),
    ("DELETE", "/store/items", {"namespace": ["a"]}, 422, "key"),
    ("POST", "/store/items/search", {"namespace_prefix": ["a.b"]}, 422, "without periods"),
    ("POST", "/store/items/search", {"namespace_prefix": ["a"], "limit": 0}, 422, "limit"),
    ("POST", "/store/items/search", {"namespace_prefix": ["a"], "limit": 1001}, 422, "limit"),
    ("POST", "/store/items/search", {"namespace_prefix": ["a"], "offset": -1}, 422, "offset"),
    ("POST", "/store/items/search", {"namespace_prefix": ["a"], "filter": []}, 422, "filter"),
    ("POST", "/store/items/search", {"filter": {"n": {"$regex": "x"}}}, 422, "Unsupported filter operator"),
    ("POST", "/store/items/search", {"filter": {"n": {"$gt": 1, "plain": 2}}}, 422, "mixes operators"),
    ("POST", "/store/items/search", {"filter": {"n": {"$gt": [1]}}}, 422, "number or a string"),
    ("POST", "/store/items/search", {"filter": {"n": "x\u0000"}}, 422, "NUL"),
    ("POST", "/store/namespaces", {"prefix": ["a.b"]}, 422, "without periods"),
    ("POST", "/store/namespaces", {"suffix": [""]}, 422, "non-empty string"),
    ("POST", "/store/namespaces", {"max_depth": 0}, 422, "max_depth"),
    ("POST", "/store/namespaces", {"limit": 0}, 422, "limit"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD_REQUESTS)
async def test_bad_input_is_rejected_with_a_clear_message(
    server_url: str, method: str, path: str, body: dict[str, Any] | None, status: int, message: str
) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


@pytest.mark.usefixtures("semantic_search")
async def test_a_semantic_page_beyond_the_ranked_window_is_rejected(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/store/items/search", json={"query": "q", "limit": 1000, "offset": 9001})

    assert response.status_code == 422, response.text
    assert "offset + limit" in response.json()["detail"]


async def test_malformed_json_is_422(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.put("/store/items", content=b"{not json", headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid JSON in request body"}


async def test_get_accepts_the_namespace_as_repeated_query_values(client: LangGraphClient, server_url: str) -> None:
    namespace = [unique("a"), "b"]
    await client.store.put_item(namespace, "k", {"v": 1})

    async with httpx.AsyncClient(base_url=server_url) as http:
        params = [("namespace", namespace[0]), ("namespace", "b"), ("key", "k")]
        response = await http.get("/store/items", params=params)

    assert response.status_code == 200
    assert response.json()["value"] == {"v": 1}
