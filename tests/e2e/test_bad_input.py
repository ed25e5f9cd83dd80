"""Input the database cannot hold, or that is out of every sane range, gets a 422 with a clear `detail` (never a
500), and nothing of it is stored: NUL characters, integers beyond 64 bits, deep nesting, huge limits and offsets,
oversized run batches and bad `after_seconds`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aegra.api.inputs import MAX_JSON_DEPTH
from aegra.schemas.runs import MAX_AFTER_SECONDS
from aegra.settings import Settings

BATCH_MAX = 3
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    """A small batch cap, so the test of it need not send a thousand runs."""
    return Settings(database_url=database_url, n_jobs_per_worker=4, runs_batch_max=BATCH_MAX)


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server_url, timeout=60) as client:
        yield client


async def _count(http: httpx.AsyncClient, path: str) -> int:
    response = await http.post(path, json={})
    assert response.status_code == 200, response.text
    return int(response.json())


async def _new_thread(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/threads", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _nested(depth: int) -> Any:
    """`depth` lists, one inside the other."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _assert_refused(response: httpx.Response, message: str) -> None:
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


CREATES_WITH_BAD_VALUES = [
    pytest.param("/threads", {"metadata": {"note": "a\x00b"}}, "/threads/count", "NUL", id="thread-metadata-nul"),
    pytest.param("/threads", {"metadata": {"k\x00": 1}}, "/threads/count", "NUL", id="thread-metadata-key-nul"),
    pytest.param("/threads", {"metadata": {"n": 2**63}}, "/threads/count", "64 bits", id="thread-metadata-int"),
    pytest.param(
        "/threads", {"metadata": {"n": _nested(MAX_JSON_DEPTH)}}, "/threads/count", "nested too deeply", id="deep"
    ),
    pytest.param(
        "/assistants",
        {"graph_id": "echo", "config": {"configurable": {"model": "x\x00"}}},
        "/assistants/count",
        "NUL",
        id="assistant-config-nul",
    ),
    pytest.param(
        "/assistants",
        {"graph_id": "echo", "context": {"n": INT64_MIN - 1}},
        "/assistants/count",
        "64 bits",
        id="assistant-context-int",
    ),
    pytest.param(
        "/runs/crons",
        {"assistant_id": "echo", "schedule": "0 0 * * *", "input": {"text": "\x00"}},
        "/runs/crons/count",
        "NUL",
        id="cron-input-nul",
    ),
    pytest.param(
        "/runs/crons",
        {"assistant_id": "echo", "schedule": "0 0 * * *", "metadata": {"n": 10**30}},
        "/runs/crons/count",
        "64 bits",
        id="cron-metadata-int",
    ),
]


@pytest.mark.parametrize(("path", "body", "count_path", "message"), CREATES_WITH_BAD_VALUES)
async def test_a_create_with_an_unstorable_value_is_refused_and_creates_nothing(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], count_path: str, message: str
) -> None:
    before = await _count(http, count_path)

    response = await http.post(path, json=body)

    _assert_refused(response, message)
    assert "(at `$." in response.json()["detail"]
    assert await _count(http, count_path) == before


async def test_the_refusal_names_where_the_bad_value_is(http: httpx.AsyncClient) -> None:
    response = await http.post("/threads", json={"metadata": {"tags": ["ok", "bad\x00"]}})

    assert response.status_code == 422
    assert response.json()["detail"] == "Strings must not contain NUL characters (\\u0000) (at `$.metadata.tags[1]`)"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [({"note": "\x00"}, "NUL"), ({"n": 2**64}, "64 bits"), ({"n": _nested(MAX_JSON_DEPTH + 5)}, "nested too deeply")],
)
async def test_a_patch_with_an_unstorable_value_leaves_the_thread_as_it_was(
    http: httpx.AsyncClient, metadata: dict[str, Any], message: str
) -> None:
    thread = await _new_thread(http, metadata={"keep": "me"})

    response = await http.patch(f"/threads/{thread['thread_id']}", json={"metadata": metadata})

    _assert_refused(response, message)
    after = await http.get(f"/threads/{thread['thread_id']}")
    assert after.json()["metadata"] == {"keep": "me"}


async def test_a_store_item_with_nul_is_refused_and_not_stored(http: httpx.AsyncClient) -> None:
    response = await http.put("/store/items", json={"namespace": ["bad"], "key": "k", "value": {"text": "a\x00"}})

    _assert_refused(response, "NUL")
    stored = await http.get("/store/items", params={"namespace": "bad", "key": "k"})
    assert (stored.status_code, stored.json()) == (200, None)


async def test_a_run_whose_input_holds_a_huge_integer_is_refused_and_not_created(http: httpx.AsyncClient) -> None:
    thread = await _new_thread(http)

    response = await http.post(
        f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "echo", "input": {"messages": [], "n": 2**64}}
    )

    _assert_refused(response, "Integers must fit in 64 bits")
    runs = await http.get(f"/threads/{thread['thread_id']}/runs")
    assert runs.json() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/assistants/echo%00"),
        ("GET", "/threads/%00/state"),
        ("GET", "/store/items?namespace=a&key=k%00"),
        ("GET", "/threads/00000000-0000-0000-0000-000000000000/history?before=%00"),
        ("DELETE", "/assistants/%00"),
    ],
)
async def test_nul_in_a_path_or_query_parameter_is_refused(http: httpx.AsyncClient, method: str, path: str) -> None:
    response = await http.request(method, path)

    _assert_refused(response, "must not contain NUL characters (%00)")


async def test_text_that_only_looks_like_an_escape_and_64_bit_bounds_are_stored_as_sent(
    http: httpx.AsyncClient,
) -> None:
    metadata = {"escaped": "\\u0000", "digits": "12345678901234567890", "max": INT64_MAX, "min": INT64_MIN}

    thread = await _new_thread(http, metadata=metadata)

    fetched = await http.get(f"/threads/{thread['thread_id']}")
    assert fetched.json()["metadata"] == metadata


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/threads/search", {"limit": 1001}, "limit"),
        ("/threads/search", {"limit": 0}, "limit"),
        ("/threads/search", {"offset": -1}, "offset"),
        ("/threads/search", {"offset": 2**63}, "64 bits"),
        ("/assistants/search", {"limit": 10**20}, "64 bits"),
        ("/assistants/search", {"limit": 5000}, "limit"),
        ("/runs/crons/search", {"offset": -5}, "offset"),
        ("/store/items/search", {"offset": 10**30}, "64 bits"),
        ("/store/namespaces", {"limit": 1001}, "limit"),
    ],
)
async def test_limits_and_offsets_out_of_range_in_a_body_are_refused(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], message: str
) -> None:
    response = await http.post(path, json=body)

    _assert_refused(response, message)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**63}, "offset"),
        ({"offset": 10**30}, "offset"),
    ],
)
async def test_limits_and_offsets_out_of_range_in_a_query_are_refused(
    http: httpx.AsyncClient, query: dict[str, int], message: str
) -> None:
    thread = await _new_thread(http)

    response = await http.get(f"/threads/{thread['thread_id']}/runs", params=query)

    _assert_refused(response, message)


async def test_the_largest_offset_is_an_empty_page_and_history_limit_is_bounded(http: httpx.AsyncClient) -> None:
    thread = await _new_thread(http)

    last_page = await http.post("/threads/search", json={"offset": INT64_MAX, "limit": 1000})
    history = await http.get(f"/threads/{thread['thread_id']}/history", params={"limit": 100_000})

    assert (last_page.status_code, last_page.json()) == (200, [])
    _assert_refused(history, "limit")


async def test_a_version_beyond_the_column_range_is_refused(http: httpx.AsyncClient) -> None:
    assistant = (await http.post("/assistants", json={"graph_id": "echo"})).json()

    in_body = await http.post(f"/assistants/{assistant['assistant_id']}/latest", json={"version": 2**40})
    in_query = await http.post(f"/assistants/{assistant['assistant_id']}/latest", params={"version": 2**40})

    _assert_refused(in_body, "version")
    _assert_refused(in_query, "version")


async def test_a_batch_over_the_cap_is_refused_whole(http: httpx.AsyncClient) -> None:
    runs = [{"assistant_id": "echo", "input": {"messages": []}, "on_completion": "keep"}] * (BATCH_MAX + 1)
    before = await _count(http, "/threads/count")

    response = await http.post("/runs/batch", json=runs)

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        f"A batch holds at most {BATCH_MAX} runs (got {BATCH_MAX + 1}); send the rest in further batches"
    )
    assert await _count(http, "/threads/count") == before


async def test_a_batch_at_the_cap_is_created(http: httpx.AsyncClient) -> None:
    runs = [{"assistant_id": "echo", "input": {"messages": []}}] * BATCH_MAX

    response = await http.post("/runs/batch", json=runs)

    assert response.status_code == 200, response.text
    assert [run["status"] for run in response.json()] == ["pending"] * BATCH_MAX


@pytest.mark.parametrize(
    ("raw_after_seconds", "message"),
    [
        ("-1", "after_seconds"),
        (str(MAX_AFTER_SECONDS + 1), "after_seconds"),
        ("1e30", "after_seconds"),
        ('"soon"', "after_seconds"),
        ("NaN", "Invalid JSON"),
        ("Infinity", "Invalid JSON"),
        ("1e400", "number is out of range"),
    ],
)
async def test_bad_after_seconds_is_refused_and_creates_no_run(
    http: httpx.AsyncClient, raw_after_seconds: str, message: str
) -> None:
    thread = await _new_thread(http)
    body = f'{{"assistant_id": "echo", "input": {{"messages": []}}, "after_seconds": {raw_after_seconds}}}'

    response = await http.post(f"/threads/{thread['thread_id']}/runs", content=body, headers=JSON_HEADERS)

    _assert_refused(response, message)
    runs = await http.get(f"/threads/{thread['thread_id']}/runs")
    assert runs.json() == []


async def test_after_seconds_at_the_bound_queues_the_run(http: httpx.AsyncClient) -> None:
    thread = await _new_thread(http)

    response = await http.post(
        f"/threads/{thread['thread_id']}/runs",
        json={"assistant_id": "echo", "input": {"messages": []}, "after_seconds": MAX_AFTER_SECONDS},
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/threads", {"ttl": {"ttl": 1e17}}),
        ("/store/items", {"namespace": ["t"], "key": "k", "value": {}, "ttl": 1e17}),
    ],
)
async def test_a_ttl_beyond_a_century_is_refused(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    method = "PUT" if path == "/store/items" else "POST"

    response = await http.request(method, path, json=body)

    _assert_refused(response, "ttl")


async def test_a_body_nested_past_the_decoder_is_refused(http: httpx.AsyncClient) -> None:
    depth = 100_000
    body = '{"metadata": {"a": ' + "[" * depth + "]" * depth + "}}"

    response = await http.post("/threads", content=body, headers=JSON_HEADERS)

    _assert_refused(response, "nested too deeply")


@pytest.mark.parametrize("last_event_id", [str(2**70), "1795626344231-0", "garbage"])
async def test_a_last_event_id_never_sent_replays_the_run_from_the_start(
    http: httpx.AsyncClient, last_event_id: str
) -> None:
    """langgraph-api does not refuse an id it never issued: the stream starts over."""
    thread = await _new_thread(http)
    run = await http.post(
        f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "echo", "input": {"messages": []}}
    )
    run_path = run.headers["content-location"]
    await http.get(f"{run_path}/join")  # a background run keeps its events

    response = await http.get(f"{run_path}/stream", headers={"Last-Event-ID": last_event_id})

    assert response.status_code == 200, response.text
    assert "event: metadata" in response.text


async def test_a_value_the_database_refuses_is_a_422_not_a_500(http: httpx.AsyncClient) -> None:
    """No schema rule catches this one (a valid timestamp that is in year 10000 in UTC): the error handler maps the
    database's refusal to a 422."""
    before = await _count(http, "/runs/crons/count")

    response = await http.post(
        "/runs/crons",
        json={"assistant_id": "echo", "schedule": "0 0 * * *", "end_time": "9999-12-31T23:59:59-23:59"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "Invalid value: date value out of range"
    assert await _count(http, "/runs/crons/count") == before
