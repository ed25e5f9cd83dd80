"""`client.threads.*` (threads, search, copy, prune, TTL) through the real SDK against a running server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError
from sqlalchemy import text

from aegra.db.database import Database
from aegra.services.thread_ttl import sweep_expired_threads

THREAD_KEYS = {
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "config",
    "values",
    "interrupts",
    "error",
}


async def _seeded_thread(client: LangGraphClient, *texts: str, metadata: dict[str, Any] | None = None) -> str:
    """A thread of the echo graph with one human message per text, written with update_state."""
    thread = await client.threads.create(graph_id="echo", metadata=metadata)
    for index, content in enumerate(texts):
        await client.threads.update_state(
            thread["thread_id"],
            {"messages": [{"role": "user", "content": content, "id": f"m-{index}"}]},
            as_node="echo",
        )
    return thread["thread_id"]


async def test_create_returns_an_idle_thread_in_langgraph_api_shape(client: LangGraphClient) -> None:
    thread = await client.threads.create(metadata={"purpose": "wire"})

    assert set(thread) == THREAD_KEYS
    assert thread["status"] == "idle"
    assert thread["metadata"] == {"purpose": "wire"}
    assert thread["values"] is None
    assert thread["interrupts"] == {}
    assert thread["config"] == {}
    assert thread["created_at"].endswith("+00:00")
    assert thread["created_at"] == thread["updated_at"] == thread["state_updated_at"]
    uuid.UUID(thread["thread_id"])


async def test_create_with_graph_id_stamps_it_into_metadata(client: LangGraphClient) -> None:
    thread = await client.threads.create(graph_id="echo", metadata={"a": 1})

    assert thread["metadata"] == {"a": 1, "graph_id": "echo"}


async def test_create_existing_id_raises_conflict_or_returns_existing(client: LangGraphClient) -> None:
    thread_id = str(uuid.uuid4())
    first = await client.threads.create(thread_id=thread_id, metadata={"n": 1})

    again = await client.threads.create(thread_id=thread_id, metadata={"n": 2}, if_exists="do_nothing")
    with pytest.raises(ConflictError, match=f"Thread with ID {thread_id} already exists"):
        await client.threads.create(thread_id=thread_id)

    assert again == first


async def test_get_unknown_thread_is_not_found(client: LangGraphClient) -> None:
    thread_id = str(uuid.uuid4())

    with pytest.raises(NotFoundError, match=f"Thread with ID {thread_id} not found"):
        await client.threads.get(thread_id)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/threads/not-a-uuid"),
        ("PATCH", "/threads/not-a-uuid"),
        ("DELETE", "/threads/not-a-uuid"),
        ("POST", "/threads/not-a-uuid/copy"),
        ("GET", "/threads/not-a-uuid/state"),
        ("POST", "/threads/not-a-uuid/state"),
        ("GET", "/threads/not-a-uuid/state/abc"),
        ("POST", "/threads/not-a-uuid/state/checkpoint"),
        ("GET", "/threads/not-a-uuid/history"),
        ("POST", "/threads/not-a-uuid/history"),
    ],
)
async def test_non_uuid_thread_id_is_unprocessable(server_url: str, method: str, path: str) -> None:
    body = {"checkpoint": {"checkpoint_id": "x"}} if path.endswith("/checkpoint") else {}
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.request(method, path, json=body if method in ("POST", "PATCH") else None)

    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid thread ID: must be a UUID"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/threads", {"metadata": "not-an-object"}),
        ("/threads", {"thread_id": "not-a-uuid"}),
        ("/threads", {"if_exists": "sometimes"}),
        ("/threads", {"ttl": {"ttl": -5}}),
        ("/threads", {"ttl": {"ttl": 5, "strategy": "archive"}}),
        ("/threads/search", {"limit": "x"}),
        ("/threads/search", {"limit": 0}),
        ("/threads/search", {"status": "sleeping"}),
        ("/threads/search", {"sort_by": "values"}),
        ("/threads/search", {"select": ["password"]}),
        ("/threads/search", {"ids": ["nope"]}),
        ("/threads/count", {"metadata": []}),
        ("/threads/prune", {"thread_ids": ["nope"]}),
        ("/threads/prune", {}),
    ],
)
async def test_bad_request_bodies_are_unprocessable_with_a_detail(server_url: str, path: str, body: Any) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post(path, json=body)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)
    assert response.json()["detail"]


async def test_malformed_json_is_unprocessable(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/threads", content=b'{"metadata": ', headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid JSON in request body"}


async def test_update_merges_metadata_and_bumps_updated_at(client: LangGraphClient) -> None:
    created = await client.threads.create(metadata={"a": 1, "b": 1})

    updated = await client.threads.update(created["thread_id"], metadata={"b": 2, "c": 3})
    fetched = await client.threads.get(created["thread_id"])

    assert updated["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert updated["updated_at"] > created["updated_at"]
    assert fetched == updated


async def test_update_with_return_minimal_answers_no_content(client: LangGraphClient) -> None:
    created = await client.threads.create()

    result = await client.threads.update(created["thread_id"], metadata={"x": 1}, return_minimal=True)

    assert result is None
    assert (await client.threads.get(created["thread_id"]))["metadata"] == {"x": 1}


async def test_update_unknown_thread_is_not_found(client: LangGraphClient) -> None:
    with pytest.raises(NotFoundError):
        await client.threads.update(str(uuid.uuid4()), metadata={"x": 1})


async def test_delete_removes_the_thread_and_its_checkpoints(client: LangGraphClient) -> None:
    thread_id = await _seeded_thread(client, "hi")

    await client.threads.delete(thread_id)

    with pytest.raises(NotFoundError):
        await client.threads.get(thread_id)
    with pytest.raises(NotFoundError):
        await client.threads.delete(thread_id)
    recreated = await client.threads.create(thread_id=thread_id, graph_id="echo")
    assert (await client.threads.get_history(recreated["thread_id"])) == []
    assert (await client.threads.get_state(thread_id))["values"] == {}


async def test_search_filters_by_metadata_values_ids_and_status(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    plain = await client.threads.create(metadata={"tag": tag, "kind": "plain"})
    chatty = await _seeded_thread(client, f"hello {tag}", metadata={"tag": tag, "kind": "chatty"})

    by_metadata = await client.threads.search(metadata={"tag": tag, "kind": "plain"})
    by_values = await client.threads.search(values={"messages": [{"content": f"hello {tag}"}]})
    by_ids = await client.threads.search(ids=[plain["thread_id"]], metadata={"tag": tag})
    by_status = await client.threads.search(metadata={"tag": tag}, status="busy")

    assert [item["thread_id"] for item in by_metadata] == [plain["thread_id"]]
    assert [item["thread_id"] for item in by_values] == [chatty]
    assert by_values[0]["values"]["messages"][0]["content"] == f"hello {tag}"
    assert [item["thread_id"] for item in by_ids] == [plain["thread_id"]]
    assert by_status == []


async def test_search_sorts_and_paginates_with_headers(client: LangGraphClient, server_url: str) -> None:
    tag = uuid.uuid4().hex
    created = [(await client.threads.create(metadata={"tag": tag}))["thread_id"] for _ in range(3)]

    newest_first = await client.threads.search(metadata={"tag": tag})
    oldest_first = await client.threads.search(metadata={"tag": tag}, sort_by="created_at", sort_order="asc")
    by_id = await client.threads.search(metadata={"tag": tag}, sort_by="thread_id", sort_order="asc")
    async with httpx.AsyncClient(base_url=server_url) as http:
        first = await http.post("/threads/search", json={"metadata": {"tag": tag}, "limit": 2})
        last = await http.post("/threads/search", json={"metadata": {"tag": tag}, "limit": 2, "offset": 2})

    assert [item["thread_id"] for item in newest_first] == created[::-1]
    assert [item["thread_id"] for item in oldest_first] == created
    assert [item["thread_id"] for item in by_id] == sorted(created)
    assert first.headers["x-pagination-next"] == "2"
    assert first.headers["x-pagination-total"] == "3"
    assert [item["thread_id"] for item in first.json()] == created[:0:-1]
    assert "x-pagination-next" not in last.headers
    assert last.headers["x-pagination-total"] == "3"
    assert [item["thread_id"] for item in last.json()] == created[:1]


async def test_search_select_projects_fields_and_extract_adds_paths(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    thread_id = await _seeded_thread(client, "first", "last", metadata={"tag": tag, "user": {"name": "ada"}})

    (selected,) = await client.threads.search(metadata={"tag": tag}, select=["thread_id", "status"])
    (extracted,) = await client.threads.search(
        metadata={"tag": tag},
        select=["thread_id"],
        extract={"last": "values.messages[-1].content", "name": "metadata.user.name", "none": "values.nope[3]"},
    )

    assert selected == {"thread_id": thread_id, "status": "idle"}
    assert extracted == {"thread_id": thread_id, "extracted": {"last": "last", "name": "ada", "none": None}}


async def test_search_rejects_bad_extract_paths(client: LangGraphClient) -> None:
    with pytest.raises(UnprocessableEntityError, match="must start with"):
        await client.threads.search(extract={"x": "secrets.key"})
    with pytest.raises(UnprocessableEntityError, match="at most 10"):
        await client.threads.search(extract={f"k{index}": "values.a" for index in range(11)})


async def test_count_applies_the_same_filters(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    await client.threads.create(metadata={"tag": tag})
    await _seeded_thread(client, f"counted {tag}", metadata={"tag": tag})

    total = await client.threads.count(metadata={"tag": tag})
    with_values = await client.threads.count(values={"messages": [{"content": f"counted {tag}"}]})
    idle = await client.threads.count(metadata={"tag": tag}, status="idle")
    interrupted = await client.threads.count(metadata={"tag": tag}, status="interrupted")

    assert (total, with_values, idle, interrupted) == (2, 1, 2, 0)


async def test_copy_makes_a_new_thread_with_the_same_metadata_and_checkpoints(client: LangGraphClient) -> None:
    source = await _seeded_thread(client, "one", "two", metadata={"owner": "t"})

    copied = await client.threads.copy(source)
    copy_state = await client.threads.get_state(copied["thread_id"])
    source_history = await client.threads.get_history(source)
    copy_history = await client.threads.get_history(copied["thread_id"])

    assert copied["thread_id"] != source
    assert copied["metadata"] == {"owner": "t", "graph_id": "echo"}
    assert copied["values"] == (await client.threads.get(source))["values"]
    assert [m["content"] for m in copy_state["values"]["messages"]] == ["one", "two"]
    assert copy_state["checkpoint"]["thread_id"] == copied["thread_id"]
    assert [s["checkpoint"]["checkpoint_id"] for s in copy_history] == [
        s["checkpoint"]["checkpoint_id"] for s in source_history
    ]


async def test_copy_unknown_thread_is_not_found(client: LangGraphClient) -> None:
    with pytest.raises(NotFoundError):
        await client.threads.copy(str(uuid.uuid4()))


async def test_prune_delete_removes_threads(client: LangGraphClient) -> None:
    first = await _seeded_thread(client, "a")
    second = (await client.threads.create())["thread_id"]

    result = await client.threads.prune([first, second])

    assert result == {"pruned_count": 2}
    for thread_id in (first, second):
        with pytest.raises(NotFoundError):
            await client.threads.get(thread_id)


async def test_prune_keep_latest_keeps_only_the_latest_checkpoint(client: LangGraphClient) -> None:
    thread_id = await _seeded_thread(client, "a", "b", "c")
    before = await client.threads.get_state(thread_id)

    result = await client.threads.prune([thread_id], strategy="keep_latest")
    after = await client.threads.get_state(thread_id)
    history = await client.threads.get_history(thread_id)

    assert result == {"pruned_count": 1}
    assert after["values"] == before["values"]
    assert after["checkpoint"] == before["checkpoint"]
    assert len(history) == 1


async def test_prune_with_an_unknown_thread_is_not_found_and_prunes_nothing(client: LangGraphClient) -> None:
    existing = (await client.threads.create())["thread_id"]

    with pytest.raises(NotFoundError, match="At least one thread not found"):
        await client.threads.prune([existing, str(uuid.uuid4())])

    assert (await client.threads.get(existing))["thread_id"] == existing


async def test_ttl_is_shown_with_include_and_replaced_by_update(client: LangGraphClient) -> None:
    created = await client.threads.create(ttl=60)

    shown = await client.threads.get(created["thread_id"], include=["ttl"])
    plain = await client.threads.get(created["thread_id"])
    await client.threads.update(created["thread_id"], metadata={}, ttl={"ttl": 5, "strategy": "keep_latest"})
    replaced = await client.threads.get(created["thread_id"], include=["ttl"])

    assert shown["ttl"]["strategy"] == "delete"
    assert shown["ttl"]["ttl_minutes"] == 60
    assert shown["ttl"]["expires_at"] > created["updated_at"]
    assert "ttl" not in plain
    assert replaced["ttl"]["strategy"] == "keep_latest"
    assert replaced["ttl"]["ttl_minutes"] == 5


async def _expire(database: Database, thread_id: str, *, idle_minutes: float) -> None:
    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE threads SET expires_at = now() - interval '1 second', "
                "updated_at = now() - make_interval(secs => :idle * 60) WHERE thread_id = :thread_id"
            ),
            {"idle": idle_minutes, "thread_id": uuid.UUID(thread_id)},
        )


async def test_sweeper_deletes_expired_threads_and_spares_recently_active_ones(
    client: LangGraphClient, database: Database
) -> None:
    expired = await _seeded_thread(client, "old")
    await client.threads.update(expired, metadata={}, ttl=10)
    active = (await client.threads.create(ttl=10))["thread_id"]
    await _expire(database, expired, idle_minutes=11)
    await _expire(database, active, idle_minutes=1)

    result = await sweep_expired_threads(database)

    assert result.deleted >= 1
    with pytest.raises(NotFoundError):
        await client.threads.get(expired)
    assert (await client.threads.get(active))["thread_id"] == active
    recreated = await client.threads.create(thread_id=expired, graph_id="echo")
    assert await client.threads.get_history(recreated["thread_id"]) == []


async def test_sweeper_keep_latest_prunes_history_and_keeps_the_thread(
    client: LangGraphClient, database: Database
) -> None:
    thread_id = await _seeded_thread(client, "a", "b")
    await client.threads.update(thread_id, metadata={}, ttl={"ttl": 10, "strategy": "keep_latest"})
    await _expire(database, thread_id, idle_minutes=11)

    result = await sweep_expired_threads(database)

    assert result.pruned >= 1
    assert len(await client.threads.get_history(thread_id)) == 1
    assert [m["content"] for m in (await client.threads.get_state(thread_id))["values"]["messages"]] == ["a", "b"]
