"""The edges of authorization, end to end through the real SDK and httpx (server: `tests/graphs/auth_shared.py`,
where a resource's `viewers` may read it and only its `owner` may change it).

- following a run with `cancel_on_disconnect` needs permission to cancel it, not only to read it;
- system-assistant ids are the server's: a client cannot take one, now or for a graph added later;
- only a real CORS preflight skips authentication; any other OPTIONS request is authenticated;
- `if_exists="do_nothing"` returns an existing thread or assistant only to a caller who may read it;
- runs, crons and webhooks keep who the user is and what they may do, never the extra claims of `authenticate`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, PermissionDeniedError, UnprocessableEntityError

from aegra.config import AegraConfig, load_config
from aegra.db.url import psycopg_conninfo
from aegra.graphs.registry import NAMESPACE_GRAPH
from aegra.settings import Settings
from tests.conftest import REPO_ROOT, running_server
from tests.e2e.test_cron_runs import _make_due, _wait_for_runs
from tests.e2e.test_durable_webhooks import Receiver
from tests.graphs.auth_shared import SECRET_TOKEN

CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.auth_shared.json"
CONFIG_WITH_LATER = REPO_ROOT / "tests" / "graphs" / "aegra.auth_shared_later.json"
ORIGIN = "http://app.example"
HI = {"messages": [{"role": "user", "content": "hi"}]}


def _client(server_url: str, token: str) -> LangGraphClient:
    return get_client(url=server_url, api_key=None, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    # The webhook receiver listens on loopback, which webhooks refuse by default.
    return Settings(database_url=database_url, n_jobs_per_worker=4, cron_poll_seconds=0.1, webhook_block_private=False)


@pytest.fixture
async def users(server_url: str) -> AsyncIterator[dict[str, LangGraphClient]]:
    """SDK clients for `alice`, `bob`, `reader` and `carol` (extra claims)."""
    tokens = {"alice": "token-a", "bob": "token-b", "reader": "token-reader", "carol": "token-c"}
    clients = {name: _client(server_url, token) for name, token in tokens.items()}
    yield clients
    for sdk in clients.values():
        await sdk.http.client.aclose()


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    """A webhook receiver on loopback (the one the webhook tests use)."""
    holder: list[Receiver] = []
    server = await asyncio.start_server(lambda r, w: holder[0].handle(r, w), "127.0.0.1", 0)
    holder.append(Receiver(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"))
    async with server:
        yield holder[0]


def _query(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(psycopg_conninfo(database_url), autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


async def _follow_briefly(sdk: LangGraphClient, path: str, **params: str) -> tuple[int, str]:
    """Open a join (stream) as `sdk`'s user; on success read its first line, then disconnect."""
    async with sdk.http.client.stream("GET", path, params=params) as response:
        if response.status_code != 200:
            return response.status_code, (await response.aread()).decode()
        async for line in response.aiter_lines():
            if line.strip():
                break
        return response.status_code, ""


# -- a. cancel_on_disconnect needs permission to cancel -------------------------------------------------------------


async def test_following_a_run_with_cancel_on_disconnect_needs_permission_to_cancel_it(
    users: dict[str, LangGraphClient],
) -> None:
    alice, bob, reader, carol = users["alice"], users["bob"], users["reader"], users["carol"]
    thread = await alice.threads.create(metadata={"viewers": ["reader", "user-b"]})
    thread_id = thread["thread_id"]
    run = await alice.runs.create(thread_id, "slow", input={})
    stateless = await alice.runs.create(None, "slow", input={}, metadata={"viewers": ["reader"]}, on_completion="keep")
    paths = [
        f"/threads/{thread_id}/runs/{run['run_id']}/stream",
        f"/threads/{thread_id}/runs/{run['run_id']}/join",
        f"/runs/{stateless['run_id']}/stream",
    ]

    refused = [await _follow_briefly(reader, path, cancel_on_disconnect="true") for path in paths]
    not_owner = await _follow_briefly(bob, paths[0], cancel_on_disconnect="true")
    hidden = await _follow_briefly(carol, paths[0], cancel_on_disconnect="true")
    bad_flag = await _follow_briefly(reader, paths[0], cancel_on_disconnect="maybe")
    watched = await _follow_briefly(reader, paths[0])  # reading alone is allowed, and leaving cancels nothing

    assert refused == [(403, '{"detail":"Forbidden"}')] * 3  # the update handler's answer to a reader
    assert not_owner[0] == 403
    assert json.loads(not_owner[1]) == {
        "detail": f"Not allowed to cancel run {run['run_id']}, so not to follow it with cancel_on_disconnect"
    }
    assert hidden[0] == 404
    assert 400 <= bad_flag[0] < 500
    assert watched == (200, "")
    assert (await alice.runs.get(thread_id, run["run_id"]))["status"] in ("pending", "running")
    assert (await alice.runs.get(stateless["thread_id"], stateless["run_id"]))["status"] in ("pending", "running")
    await alice.runs.cancel(thread_id, run["run_id"], wait=True)
    await alice.runs.cancel(stateless["thread_id"], stateless["run_id"], wait=True)


async def test_the_owner_cancels_a_run_by_disconnecting_with_cancel_on_disconnect(
    users: dict[str, LangGraphClient],
) -> None:
    alice = users["alice"]
    thread = await alice.threads.create()
    run = await alice.runs.create(thread["thread_id"], "slow", input={})

    followed = await _follow_briefly(
        alice, f"/threads/{thread['thread_id']}/runs/{run['run_id']}/stream", cancel_on_disconnect="true"
    )
    await alice.runs.join(thread["thread_id"], run["run_id"])

    assert followed == (200, "")
    assert (await alice.runs.get(thread["thread_id"], run["run_id"]))["status"] == "interrupted"


# -- b. system-assistant ids belong to the server -------------------------------------------------------------------


async def test_the_system_assistant_id_of_a_served_graph_cannot_be_taken(
    users: dict[str, LangGraphClient], database_url: str
) -> None:
    bob = users["bob"]
    spare_id = str(uuid.uuid5(NAMESPACE_GRAPH, "spare"))
    _query(database_url, "DELETE FROM assistants WHERE assistant_id = %s", spare_id)  # e.g. deleted by an admin

    attempts = []
    for graph_id, if_exists in (("echo", "raise"), ("spare", "raise"), ("spare", "do_nothing")):
        with pytest.raises(ConflictError) as caught:
            await bob.assistants.create(graph_id, assistant_id=spare_id, if_exists=if_exists)
        attempts.append(caught.value.response.json()["detail"])
    with pytest.raises(UnprocessableEntityError):
        await bob.assistants.create("echo", assistant_id="not-a-uuid")

    assert attempts == [f"Assistant id {spare_id} is reserved for the system assistant of graph 'spare'"] * 3
    assert _query(database_url, "SELECT 1 FROM assistants WHERE assistant_id = %s", spare_id) == []


async def test_an_assistant_planted_at_a_future_graphs_system_id_is_replaced_when_the_graph_arrives(
    users: dict[str, LangGraphClient], settings: Settings, database_url: str
) -> None:
    alice = users["alice"]
    later_id = str(uuid.uuid5(NAMESPACE_GRAPH, "later"))
    _query(database_url, "DELETE FROM assistants WHERE assistant_id = %s", later_id)  # left by another test
    planted = await alice.assistants.create("echo", assistant_id=later_id, config={"configurable": {"planted": 1}})

    async with running_server(settings, load_config(CONFIG_WITH_LATER)) as later_url:
        bob_later, alice_later = _client(later_url, "token-b"), _client(later_url, "token-a")
        try:
            output = await bob_later.runs.wait(None, "later", input=HI)
            with pytest.raises(NotFoundError):
                await alice_later.assistants.get(later_id)
        finally:
            await bob_later.http.client.aclose()
            await alice_later.http.client.aclose()

    assert planted["graph_id"] == "echo"  # nothing reserved the id while no graph `later` was served
    assert output["messages"][-1]["content"] == "echo: hi"
    rows = _query(database_url, "SELECT graph_id, metadata, config FROM assistants WHERE assistant_id = %s", later_id)
    versions = _query(
        database_url, "SELECT graph_id, metadata FROM assistant_versions WHERE assistant_id = %s", later_id
    )
    assert rows == [("later", {"created_by": "system"}, {})]
    assert versions == [("later", {"created_by": "system"})]


async def test_an_assistant_cannot_be_moved_onto_the_graph_whose_system_id_it_has(
    users: dict[str, LangGraphClient], settings: Settings, database_url: str
) -> None:
    alice = users["alice"]
    future_id = str(uuid.uuid5(NAMESPACE_GRAPH, "later"))

    async with running_server(settings, load_config(CONFIG_WITH_LATER)) as later_url:
        # An instance that does not serve `later` yet (a rolling deploy) lets the id be taken once it is free again.
        _query(database_url, "DELETE FROM assistants WHERE assistant_id = %s", future_id)
        await alice.assistants.create("echo", assistant_id=future_id)
        alice_later = _client(later_url, "token-a")
        try:
            with pytest.raises(ConflictError) as caught:
                await alice_later.assistants.update(future_id, graph_id="later", metadata={"created_by": "system"})
            renamed = await alice_later.assistants.update(future_id, name="still echo")
        finally:
            await alice_later.http.client.aclose()

    assert caught.value.response.json() == {
        "detail": f"Assistant id {future_id} is reserved for the system assistant of graph 'later'"
    }
    assert (renamed["graph_id"], renamed["name"]) == ("echo", "still echo")


# -- c. OPTIONS is authenticated unless it is a CORS preflight ------------------------------------------------------


async def test_options_requests_are_authenticated_unless_they_are_cors_preflights(
    anonymous: httpx.AsyncClient,
) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-a"}

    custom = await anonymous.options("/custom/probe")
    api = await anonymous.options("/threads/search")
    forged = await anonymous.options("/custom/probe", headers={"Authorization": "Bearer forged"})
    signed_in = await anonymous.options("/custom/probe", headers={"Authorization": "Bearer token-b"})
    allowed = await anonymous.options("/custom/probe", headers=preflight)
    foreign = await anonymous.options("/custom/probe", headers={**preflight, "Origin": "http://evil.example"})

    assert (custom.status_code, custom.json()) == (401, {"detail": "Invalid token"})
    assert (api.status_code, api.json()) == (401, {"detail": "Invalid token"})
    assert forged.status_code == 401
    assert signed_in.json() == {"method": "OPTIONS", "user": "user-b"}
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.content == b""  # answered by CORS; the route itself never ran
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers


# -- d. if_exists="do_nothing" returns only what the caller may read ------------------------------------------------


async def test_do_nothing_returns_an_existing_thread_only_to_a_caller_who_may_read_it(
    users: dict[str, LangGraphClient],
) -> None:
    alice, bob, reader = users["alice"], users["bob"], users["reader"]
    private = await alice.threads.create(metadata={"secret": "alice's plans"})
    shared = await alice.threads.create(metadata={"viewers": ["user-b"]})

    with pytest.raises(ConflictError) as caught:
        await bob.threads.create(thread_id=private["thread_id"], if_exists="do_nothing")
    existing = await bob.threads.create(thread_id=shared["thread_id"], if_exists="do_nothing")
    with pytest.raises(PermissionDeniedError):
        await reader.threads.create(thread_id=shared["thread_id"], if_exists="do_nothing")
    with pytest.raises(UnprocessableEntityError):
        await bob.http.post("/threads", json={"thread_id": shared["thread_id"], "if_exists": "adopt"})

    assert caught.value.response.json() == {"detail": f"Thread with ID {private['thread_id']} already exists"}
    assert existing["metadata"] == {"owner": "user-a", "viewers": ["user-a", "user-b"]}
    assert (await alice.threads.get(private["thread_id"]))["metadata"]["owner"] == "user-a"


async def test_do_nothing_returns_an_existing_assistant_only_to_a_caller_who_may_read_it(
    users: dict[str, LangGraphClient],
) -> None:
    alice, bob = users["alice"], users["bob"]
    private = await alice.assistants.create("echo", name="alice's", config={"configurable": {"key": "private"}})
    shared = await alice.assistants.create("echo", name="shared", metadata={"viewers": ["user-b"]})

    with pytest.raises(ConflictError) as caught:
        await bob.assistants.create("echo", assistant_id=private["assistant_id"], if_exists="do_nothing")
    existing = await bob.assistants.create("echo", assistant_id=shared["assistant_id"], if_exists="do_nothing")
    with pytest.raises(UnprocessableEntityError):
        await bob.http.post("/assistants", json={"graph_id": "echo", "if_exists": "adopt"})

    assert caught.value.response.json() == {"detail": f"Assistant {private['assistant_id']} already exists"}
    assert (existing["name"], existing["metadata"]["owner"]) == ("shared", "user-a")
    assert (await alice.assistants.get(private["assistant_id"]))["name"] == "alice's"


# -- e. runs and crons keep who the user is, not their extra claims --------------------------------------------------


async def test_runs_and_their_webhooks_carry_who_the_user_is_but_not_their_extra_claims(
    users: dict[str, LangGraphClient], hooks: Receiver, database_url: str
) -> None:
    carol = users["carol"]
    thread = await carol.threads.create()

    seen = await carol.runs.wait(thread["thread_id"], "claims", input={}, webhook=hooks.url)
    _, webhook = await hooks.next()
    runs = await carol.runs.list(thread["thread_id"])
    run = await carol.runs.get(thread["thread_id"], runs[0]["run_id"])
    stored = _query(database_url, "SELECT kwargs::text FROM runs WHERE thread_id = %s", thread["thread_id"])

    assert seen == {
        "identity": "user-c",
        "display_name": "Carol",
        "permissions": ["read", "write"],
        "claims": {"access_token": None, "email": None},
        "tenant": "acme",  # copied into the run on purpose by the create_run handler
    }
    assert run["kwargs"]["config"]["configurable"]["langgraph_auth_user"] == {
        "identity": "user-c",
        "display_name": "Carol",
        "permissions": ["read", "write"],
        "is_authenticated": True,
    }
    for exposed in (json.dumps(runs), json.dumps(run), json.dumps(webhook), stored[0][0]):
        assert SECRET_TOKEN not in exposed
        assert "carol@example.com" not in exposed


async def test_crons_and_their_runs_carry_who_the_user_is_but_not_their_extra_claims(
    users: dict[str, LangGraphClient], database_url: str
) -> None:
    carol = users["carol"]
    thread = await carol.threads.create()
    cron = await carol.crons.create_for_thread(thread["thread_id"], "claims", schedule="* * * * *", input={})

    _make_due(database_url, cron["cron_id"])
    runs = await _wait_for_runs(carol, thread["thread_id"], 1)
    stored_cron = _query(database_url, "SELECT payload::text FROM crons WHERE cron_id = %s", cron["cron_id"])
    await carol.crons.delete(cron["cron_id"])
    seen = await carol.runs.join(thread["thread_id"], runs[0]["run_id"])
    stored_runs = _query(database_url, "SELECT kwargs::text FROM runs WHERE thread_id = %s", thread["thread_id"])

    assert (seen["identity"], seen["display_name"], seen["permissions"]) == ("user-c", "Carol", ["read", "write"])
    assert seen["claims"] == {"access_token": None, "email": None}
    assert seen["tenant"] is None  # the cron's runs act for the user as recorded, without their claims
    for exposed in (stored_cron[0][0], stored_runs[0][0], json.dumps(runs), json.dumps(cron)):
        assert SECRET_TOKEN not in exposed
        assert "carol@example.com" not in exposed
