"""Auth end to end: two users with bearer tokens through the real SDK; neither reaches the other's resources.

Every attempt of user B on user A's assistants, threads (state, history), runs (create, get, list, join, stream,
cancel, delete), stateless runs, crons and store items is recorded; a leak is any attempt that does not look
exactly like the resource does not exist. The server runs `tests/graphs/auth.py` (owner stamps and filters).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import PermissionDeniedError

from aegra.config import AegraConfig, load_config
from aegra.settings import Settings
from tests.conftest import REPO_ROOT
from tests.e2e.test_cron_runs import _make_due, _wait_for_runs

AUTH_CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.auth.json"
SCHEDULE = "0 0 1 1 *"  # never fires while the tests run


class Leaks:
    """Records user B's attempts on user A's resources that did not fail like a missing resource would."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.attempts = 0

    async def hidden(self, name: str, attempt: Awaitable[Any]) -> None:
        """The attempt must fail with 404, exactly as for an id that does not exist."""
        self.attempts += 1
        try:
            result = await attempt
        except httpx.HTTPStatusError as exc:  # the SDK's NotFoundError, or a plain 404 from its streaming calls
            if exc.response.status_code != 404:
                self.found.append(f"{name}: {exc.response.status_code} {exc.response.text}")
            return
        self.found.append(f"{name}: answered {result!r}"[:300])

    def absent(self, name: str, ids: list[str], foreign: str) -> None:
        """A listing must not contain the other user's resource."""
        self.attempts += 1
        if foreign in ids:
            self.found.append(f"{name}: listed {foreign}")


def _client(server_url: str, token: str | None) -> LangGraphClient:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else None
    return get_client(url=server_url, api_key=None, headers=headers)


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    return load_config(AUTH_CONFIG)


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, n_jobs_per_worker=4, cron_poll_seconds=0.1)


@pytest.fixture
async def alice(server_url: str) -> AsyncIterator[LangGraphClient]:
    sdk = _client(server_url, "token-a")
    yield sdk
    await sdk.http.client.aclose()


@pytest.fixture
async def bob(server_url: str) -> AsyncIterator[LangGraphClient]:
    sdk = _client(server_url, "token-b")
    yield sdk
    await sdk.http.client.aclose()


@pytest.fixture
async def reader(server_url: str) -> AsyncIterator[LangGraphClient]:
    sdk = _client(server_url, "token-reader")
    yield sdk
    await sdk.http.client.aclose()


@pytest.fixture
def leaks(request: pytest.FixtureRequest) -> Iterator[Leaks]:
    recorder = Leaks()
    yield recorder
    print(f"\n{request.node.name}: {len(recorder.found)} leaks in {recorder.attempts} attempts")  # shown with -s


async def _drain(stream: AsyncIterator[Any]) -> list[Any]:
    return [part async for part in stream]


async def test_requests_without_a_token_are_unauthorized(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/threads/search", json={})

    assert response.status_code == 401
    assert response.json() == {"detail": "Missing bearer token"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_bad_token_gets_the_handlers_message(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/assistants/search", json={}, headers={"Authorization": "Bearer forged"})

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token"}


async def test_health_and_info_stay_public(anonymous: httpx.AsyncClient) -> None:
    ok = await anonymous.get("/ok")
    info = await anonymous.get("/info")

    assert ok.json() == {"ok": True}
    assert info.status_code == 200
    assert "flags" in info.json()


async def test_a_handler_returning_false_is_forbidden(reader: LangGraphClient) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        await reader.threads.create()

    assert caught.value.response.json() == {"detail": "Forbidden"}


async def test_a_reader_may_read_but_not_write_the_store(reader: LangGraphClient) -> None:
    assert await reader.store.search_items(("notes",)) == {"items": []}
    with pytest.raises(PermissionDeniedError):
        await reader.store.put_item(("notes",), "k", {"v": 1})


async def test_created_resources_are_stamped_with_their_owner(alice: LangGraphClient) -> None:
    thread = await alice.threads.create(metadata={"topic": "x"})
    assistant = await alice.assistants.create("echo", metadata={"team": "t"})

    assert thread["metadata"] == {"topic": "x", "owner": "user-a"}
    assert assistant["metadata"] == {"team": "t", "owner": "user-a"}


async def test_assistants_of_one_user_are_invisible_to_the_other(
    alice: LangGraphClient, bob: LangGraphClient, leaks: Leaks
) -> None:
    mine = await alice.assistants.create("echo", name="alice's")
    await alice.assistants.update(mine["assistant_id"], metadata={"v": 2})
    foreign = mine["assistant_id"]

    await leaks.hidden("get", bob.assistants.get(foreign))
    await leaks.hidden("update", bob.assistants.update(foreign, name="stolen"))
    await leaks.hidden("delete", bob.assistants.delete(foreign))
    await leaks.hidden("versions", bob.assistants.get_versions(foreign))
    await leaks.hidden("set_latest", bob.assistants.set_latest(foreign, 1))
    await leaks.hidden("schemas", bob.assistants.get_schemas(foreign))
    await leaks.hidden("graph", bob.assistants.get_graph(foreign))
    await leaks.hidden("subgraphs", bob.assistants.get_subgraphs(foreign))
    await leaks.hidden("run with it", bob.runs.wait(None, foreign, input={"messages": []}))
    await leaks.hidden("cron with it", bob.crons.create(foreign, schedule=SCHEDULE))
    leaks.absent("search", [a["assistant_id"] for a in await bob.assistants.search(limit=100)], foreign)
    leaks.absent("search by graph", [a["assistant_id"] for a in await bob.assistants.search(graph_id="echo")], foreign)
    leaks.absent(
        "search by owner",
        [a["assistant_id"] for a in await bob.assistants.search(metadata={"owner": "user-a"})],
        foreign,
    )

    assert leaks.found == []
    assert await bob.assistants.count() == 0
    assert (await alice.assistants.get(foreign))["name"] == "alice's"
    assert foreign in [a["assistant_id"] for a in await alice.assistants.search(graph_id="echo")]


async def test_threads_state_and_history_of_one_user_are_invisible_to_the_other(
    alice: LangGraphClient, bob: LangGraphClient, leaks: Leaks
) -> None:
    thread = await alice.threads.create(graph_id="echo")
    foreign = thread["thread_id"]
    update = await alice.threads.update_state(
        foreign, {"messages": [{"role": "user", "content": "hi"}]}, as_node="echo"
    )
    checkpoint_id = update["checkpoint"]["checkpoint_id"]

    await leaks.hidden("get", bob.threads.get(foreign))
    await leaks.hidden("update", bob.threads.update(foreign, metadata={"owner": "user-b"}))
    await leaks.hidden("copy", bob.threads.copy(foreign))
    await leaks.hidden("get_state", bob.threads.get_state(foreign))
    await leaks.hidden("get_state at checkpoint", bob.threads.get_state(foreign, checkpoint_id=checkpoint_id))
    await leaks.hidden("update_state", bob.threads.update_state(foreign, {"messages": []}, as_node="echo"))
    await leaks.hidden("history", bob.threads.get_history(foreign))
    await leaks.hidden("prune", bob.threads.prune([foreign]))
    await leaks.hidden("delete", bob.threads.delete(foreign))
    await leaks.hidden("thread cron", bob.crons.create_for_thread(foreign, "echo", schedule=SCHEDULE))
    leaks.absent("search", [t["thread_id"] for t in await bob.threads.search(limit=100)], foreign)
    leaks.absent("search by id", [t["thread_id"] for t in await bob.threads.search(ids=[foreign])], foreign)
    leaks.absent(
        "search by owner", [t["thread_id"] for t in await bob.threads.search(metadata={"owner": "user-a"})], foreign
    )

    assert leaks.found == []
    assert await bob.threads.count(metadata={"owner": "user-a"}) == 0
    survivor = await alice.threads.get(foreign)
    assert survivor["metadata"]["owner"] == "user-a"
    assert len(await alice.threads.get_history(foreign)) == 1


async def test_a_thread_id_taken_by_another_user_cannot_be_claimed(
    alice: LangGraphClient, bob: LangGraphClient
) -> None:
    thread = await alice.threads.create()

    with pytest.raises(httpx.HTTPStatusError) as caught:
        await bob.threads.create(thread_id=thread["thread_id"], if_exists="do_nothing")

    assert caught.value.response.status_code == 409
    assert (await alice.threads.get(thread["thread_id"]))["metadata"]["owner"] == "user-a"


async def test_runs_of_one_user_are_invisible_to_the_other(
    alice: LangGraphClient, bob: LangGraphClient, leaks: Leaks
) -> None:
    thread = await alice.threads.create()
    foreign = thread["thread_id"]
    finished = await alice.runs.create(foreign, "echo", input={"messages": [{"role": "user", "content": "hi"}]})
    await alice.runs.join(foreign, finished["run_id"])
    running = await alice.runs.create(foreign, "slow", input={})
    body = {"messages": [{"role": "user", "content": "hijack"}]}

    await leaks.hidden("create", bob.runs.create(foreign, "echo", input=body))
    await leaks.hidden("wait", bob.runs.wait(foreign, "echo", input=body))
    await leaks.hidden("stream", _drain(bob.runs.stream(foreign, "echo", input=body)))
    await leaks.hidden("get", bob.runs.get(foreign, finished["run_id"]))
    await leaks.hidden("list", bob.runs.list(foreign))
    await leaks.hidden("join", bob.runs.join(foreign, finished["run_id"]))
    await leaks.hidden("join_stream", _drain(bob.runs.join_stream(foreign, running["run_id"])))
    await leaks.hidden("cancel", bob.runs.cancel(foreign, running["run_id"]))
    await leaks.hidden("cancel_many", bob.runs.cancel_many(thread_id=foreign, run_ids=[running["run_id"]]))
    await leaks.hidden("delete", bob.runs.delete(foreign, finished["run_id"]))
    await bob.runs.cancel_many(status="all")  # cancels Bob's in-flight runs only

    assert leaks.found == []
    assert (await alice.runs.get(foreign, running["run_id"]))["status"] in ("pending", "running")
    assert {run["run_id"] for run in await alice.runs.list(foreign)} == {finished["run_id"], running["run_id"]}
    await alice.runs.cancel(foreign, running["run_id"], wait=True)


async def test_stateless_runs_and_their_threads_belong_to_their_creator(
    alice: LangGraphClient, bob: LangGraphClient, leaks: Leaks
) -> None:
    run = await alice.runs.create(None, "slow", input={}, on_completion="keep")
    created = await alice.runs.create(str(uuid.uuid4()), "echo", input={"messages": []}, if_not_exists="create")

    await leaks.hidden("stateless join_stream", _drain(bob.http.stream(f"/runs/{run['run_id']}/stream", "GET")))
    await leaks.hidden("thread of a stateless run", bob.threads.get(run["thread_id"]))
    await leaks.hidden("thread created by a run", bob.threads.get(created["thread_id"]))
    await leaks.hidden("runs of a thread created by a run", bob.runs.list(created["thread_id"]))

    assert leaks.found == []
    assert (await alice.threads.get(created["thread_id"]))["metadata"]["owner"] == "user-a"
    assert (await alice.threads.get(run["thread_id"]))["metadata"]["owner"] == "user-a"
    await alice.runs.cancel(run["thread_id"], run["run_id"], wait=True)


async def test_crons_of_one_user_are_invisible_to_the_other(
    alice: LangGraphClient, bob: LangGraphClient, leaks: Leaks
) -> None:
    thread = await alice.threads.create()
    stateless = await alice.crons.create("echo", schedule=SCHEDULE, input={"messages": []})
    on_thread = await alice.crons.create_for_thread(thread["thread_id"], "echo", schedule=SCHEDULE)

    for cron in (stateless, on_thread):
        await leaks.hidden("get", bob.http.get(f"/runs/crons/{cron['cron_id']}"))
        await leaks.hidden("update", bob.crons.update(cron["cron_id"], schedule="0 0 2 1 *"))
        await leaks.hidden("delete", bob.crons.delete(cron["cron_id"]))
        leaks.absent("search", [c["cron_id"] for c in await bob.crons.search(limit=100)], cron["cron_id"])
    leaks.absent(
        "search by thread",
        [c["cron_id"] for c in await bob.crons.search(thread_id=thread["thread_id"])],
        on_thread["cron_id"],
    )

    assert leaks.found == []
    assert await bob.crons.count() == 0
    assert stateless["user_id"] == "user-a"
    assert {c["cron_id"] for c in await alice.crons.search()} >= {stateless["cron_id"], on_thread["cron_id"]}
    assert (await alice.crons.update(stateless["cron_id"], schedule="0 0 2 1 *"))["schedule"] == "0 0 2 1 *"


async def test_cron_runs_act_for_the_crons_creator(alice: LangGraphClient, database_url: str) -> None:
    thread = await alice.threads.create()
    cron = await alice.crons.create_for_thread(thread["thread_id"], "whoami", schedule="* * * * *", input={})

    _make_due(database_url, cron["cron_id"])
    runs = await _wait_for_runs(alice, thread["thread_id"], 1)
    await alice.crons.delete(cron["cron_id"])
    result = await alice.runs.join(thread["thread_id"], runs[0]["run_id"])

    assert runs[0]["metadata"]["owner"] == "user-a"
    assert result["user_id"] == "user-a"
    assert result["permissions"] == ["read", "write"]
    assert "auth_user" not in cron["payload"]


async def test_store_namespaces_are_scoped_per_user(alice: LangGraphClient, bob: LangGraphClient, leaks: Leaks) -> None:
    await alice.store.put_item(("notes",), "secret", {"text": "alice only"})

    for namespace in (("notes",), ("user-a", "notes")):
        leaks.absent("get", ["found"] if await bob.store.get_item(namespace, "secret") else [], "found")
        found = await bob.store.search_items(namespace)
        leaks.absent("search", [item["key"] for item in found["items"]], "secret")
        await bob.store.delete_item(namespace, "secret")
    everything = await bob.store.search_items(())
    leaks.absent("search everything", [item["key"] for item in everything["items"]], "secret")
    namespaces = await bob.store.list_namespaces()
    leaks.absent("list_namespaces", [label for ns in namespaces["namespaces"] for label in ns], "user-a")

    assert leaks.found == []
    item = await alice.store.get_item(("notes",), "secret")
    assert item is not None
    assert item["namespace"] == ["user-a", "notes"]
    assert item["value"] == {"text": "alice only"}


async def test_graphs_see_the_user_in_config_and_runtime(alice: LangGraphClient) -> None:
    state = await alice.runs.wait(None, "whoami", input={})
    built = await alice.runs.wait(None, "whoami_factory", input={})

    assert state == {
        "user_id": "user-a",
        "user_identity": "user-a",
        "user_attribute": "user-a",
        "display_name": "Alice",
        "permissions": ["read", "write"],
    }
    assert built["built_for"] == "user-a"


async def test_graph_factories_see_the_caller_when_drawn(alice: LangGraphClient) -> None:
    assistant = await alice.assistants.create("whoami_factory")

    drawing = await alice.assistants.get_graph(assistant["assistant_id"])

    assert "built_for_user-a" in {node["id"] for node in drawing["nodes"]}


async def test_clients_cannot_pose_as_another_user(alice: LangGraphClient) -> None:
    forged = {"langgraph_auth_user_id": "user-b", "langgraph_auth_permissions": ["admin"]}

    from_config = await alice.runs.wait(None, "whoami", input={}, config={"configurable": forged})
    from_context = await alice.runs.wait(None, "whoami", input={}, context=forged)

    assert from_config["user_id"] == from_context["user_id"] == "user-a"
    assert from_config["permissions"] == from_context["permissions"] == ["read", "write"]


async def test_cors_preflight_is_answered_without_credentials(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.options(
        "/threads/search",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in response.headers["access-control-allow-headers"]


async def test_cors_exposes_content_location_on_authenticated_runs(alice: LangGraphClient) -> None:
    thread = await alice.threads.create()

    response = await alice.http.client.post(
        f"/threads/{thread['thread_id']}/runs",
        json={"assistant_id": "echo", "input": {"messages": []}},
        headers={"Origin": "http://localhost:5173"},
    )

    assert response.status_code == 200
    assert "content-location" in response.headers["access-control-expose-headers"]
    assert response.headers["content-location"].startswith(f"/threads/{thread['thread_id']}/runs/")


async def test_custom_routes_are_protected_when_enabled(anonymous: httpx.AsyncClient) -> None:
    denied = await anonymous.get("/custom/whoami")
    allowed = await anonymous.get("/custom/whoami", headers={"Authorization": "Bearer token-b"})

    assert denied.status_code == 401
    assert allowed.status_code == 200
    assert allowed.json()["identity"] == "user-b"
