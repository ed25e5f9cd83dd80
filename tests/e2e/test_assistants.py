"""`client.assistants.*` through the real SDK against a running server."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError

from aegra.graphs.registry import NAMESPACE_GRAPH, system_assistant_id

EXAMPLE_GRAPHS = {"agent", "agent_hitl", "subgraph_agent", "factory"}


async def test_search_lists_one_system_assistant_per_graph(client: LangGraphClient) -> None:
    assistants = await client.assistants.search(metadata={"created_by": "system"}, limit=100)

    by_graph = {item["graph_id"]: item for item in assistants}
    assert set(by_graph) >= EXAMPLE_GRAPHS
    for graph_id, item in by_graph.items():
        assert item["assistant_id"] == str(uuid.uuid5(NAMESPACE_GRAPH, graph_id))
        assert item["version"] == 1


def test_system_assistant_ids_use_langgraph_namespace() -> None:
    assert str(system_assistant_id("agent")) == str(
        uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "agent")
    )


async def test_graph_id_is_accepted_wherever_an_assistant_id_is(client: LangGraphClient) -> None:
    assistant = await client.assistants.get("agent")

    assert assistant["assistant_id"] == str(system_assistant_id("agent"))
    assert assistant["name"] == "agent"


async def test_create_mirrors_configurable_into_context(client: LangGraphClient) -> None:
    created = await client.assistants.create(
        graph_id="echo", config={"configurable": {"flavor": "v1"}}, metadata={"owner": "t"}, name="mine"
    )

    assert created["context"] == {"flavor": "v1"}
    assert created["version"] == 1
    assert created["name"] == "mine"
    assert created["created_at"].endswith("+00:00")


async def test_create_existing_id_raises_conflict_or_returns_existing(client: LangGraphClient) -> None:
    assistant_id = str(uuid.uuid4())
    first = await client.assistants.create(graph_id="echo", assistant_id=assistant_id, name="first")

    again = await client.assistants.create(
        graph_id="echo", assistant_id=assistant_id, name="second", if_exists="do_nothing"
    )
    with pytest.raises(ConflictError):
        await client.assistants.create(graph_id="echo", assistant_id=assistant_id, if_exists="raise")

    assert again == first


async def test_create_unknown_graph_is_not_found(client: LangGraphClient) -> None:
    with pytest.raises(NotFoundError, match="Graph 'nope' not found"):
        await client.assistants.create(graph_id="nope")


async def test_update_creates_a_new_version_and_merges_metadata(client: LangGraphClient) -> None:
    created = await client.assistants.create(graph_id="echo", metadata={"a": 1}, config={"configurable": {"v": 1}})

    updated = await client.assistants.update(
        created["assistant_id"], metadata={"b": 2}, config={"configurable": {"v": 2}}
    )
    versions = await client.assistants.get_versions(created["assistant_id"])

    assert updated["version"] == 2
    assert updated["metadata"] == {"a": 1, "b": 2}
    assert updated["context"] == {"v": 2}
    assert [item["version"] for item in versions] == [2, 1]


async def test_set_latest_reverts_to_an_older_version(client: LangGraphClient) -> None:
    created = await client.assistants.create(graph_id="echo", config={"configurable": {"v": 1}})
    await client.assistants.update(created["assistant_id"], config={"configurable": {"v": 2}})

    reverted = await client.assistants.set_latest(created["assistant_id"], 1)
    fetched = await client.assistants.get(created["assistant_id"])

    assert reverted["version"] == 1
    assert fetched["config"] == {"configurable": {"v": 1}}


async def test_set_latest_unknown_version_is_not_found(client: LangGraphClient) -> None:
    created = await client.assistants.create(graph_id="echo")

    with pytest.raises(NotFoundError, match="Version 7 not found"):
        await client.assistants.set_latest(created["assistant_id"], 7)


async def test_delete_removes_the_assistant(client: LangGraphClient) -> None:
    created = await client.assistants.create(graph_id="echo")

    await client.assistants.delete(created["assistant_id"])

    with pytest.raises(NotFoundError):
        await client.assistants.get(created["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.delete(created["assistant_id"])


async def test_search_filters_sorts_and_paginates(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    for index in range(3):
        await client.assistants.create(graph_id="echo", name=f"page-{tag}-{index}", metadata={"tag": tag})

    first = await client.assistants.search(
        metadata={"tag": tag}, limit=2, sort_by="name", sort_order="asc", response_format="object"
    )
    second = await client.assistants.search(metadata={"tag": tag}, limit=2, offset=2, sort_by="name", sort_order="asc")
    by_name = await client.assistants.search(name=f"PAGE-{tag}-1")
    projected = await client.assistants.search(metadata={"tag": tag}, select=["assistant_id", "name"], limit=1)

    assert [item["name"] for item in first["assistants"]] == [f"page-{tag}-0", f"page-{tag}-1"]
    assert first["next"] == "2"
    assert [item["name"] for item in second] == [f"page-{tag}-2"]
    assert [item["name"] for item in by_name] == [f"page-{tag}-1"]
    assert set(projected[0]) == {"assistant_id", "name"}
    assert await client.assistants.count(metadata={"tag": tag}) == 3
    assert await client.assistants.count(graph_id="echo", metadata={"tag": tag}) == 3


async def test_schemas_describe_the_graph(client: LangGraphClient) -> None:
    schemas = await client.assistants.get_schemas("echo")

    assert schemas["graph_id"] == "echo"
    assert "messages" in schemas["state_schema"]["properties"]
    assert schemas["config_schema"] == {}
    assert schemas["context_schema"] is None


async def test_graph_drawing_expands_subgraphs_with_xray(client: LangGraphClient) -> None:
    flat = await client.assistants.get_graph("nested")
    xray = await client.assistants.get_graph("nested", xray=True)

    assert [node["id"] for node in flat["nodes"]] == ["__start__", "parent_start", "child", "__end__"]
    assert {"source": "parent_start", "target": "child"} in flat["edges"]
    assert "child:sub_a" in {node["id"] for node in xray["nodes"]}


async def test_subgraphs_lists_namespaces_and_recurses(client: LangGraphClient) -> None:
    subgraphs = await client.assistants.get_subgraphs("nested")
    by_namespace = await client.assistants.get_subgraphs("nested", namespace="child")

    assert list(subgraphs) == ["child"]
    assert subgraphs["child"]["state_schema"]["properties"]["items"]["type"] == "array"
    assert list(by_namespace) == ["child"]


async def test_factory_graph_serves_schemas_and_drawing(client: LangGraphClient) -> None:
    drawing = await client.assistants.get_graph("factory")

    assert "greet" in {node["id"] for node in drawing["nodes"]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/assistants/not-a-uuid", None, 422),
        ("GET", f"/assistants/{uuid.uuid4()}", None, 404),
        ("PATCH", f"/assistants/{uuid.uuid4()}", {"name": "x"}, 404),
        ("POST", "/assistants", {"graph_id": 5}, 422),
        ("POST", "/assistants", {}, 422),
        ("POST", "/assistants", {"graph_id": "echo", "if_exists": "explode"}, 422),
        ("POST", "/assistants", {"graph_id": "echo", "assistant_id": "nope"}, 422),
        ("POST", "/assistants/search", {"limit": 0}, 422),
        ("POST", "/assistants/search", {"limit": 5000}, 422),
        ("POST", "/assistants/search", {"offset": -1}, 422),
        ("POST", "/assistants/search", {"sort_by": "password"}, 422),
        ("POST", "/assistants/search", {"select": ["nope"]}, 422),
        ("POST", "/assistants/search", {"metadata": "not-an-object"}, 422),
        ("POST", "/assistants/count", {"graph_id": ["x"]}, 422),
        ("POST", "/assistants/agent/latest", {"version": "one"}, 422),
        ("POST", "/assistants/agent/versions", {"limit": "many"}, 422),
        ("GET", "/assistants/agent/graph?xray=banana", None, 422),
        ("GET", f"/assistants/{uuid.uuid4()}/schemas", None, 404),
        ("GET", f"/assistants/{uuid.uuid4()}/subgraphs", None, 404),
        ("DELETE", "/assistants/search", None, 405),
        ("GET", "/no/such/route", None, 404),
    ],
)
async def test_bad_requests_get_a_clear_4xx(server_url: str, method: str, path: str, body: object, status: int) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2", b"\xff\xfe", b'{"graph_id": "echo"', b"null", b"[]", b'"string"']
)
async def test_malformed_bodies_are_rejected_with_422(server_url: str, raw: bytes) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/assistants", content=raw, headers={"content-type": "application/json"})

    assert response.status_code == 422, response.text
    assert response.json()["detail"]


async def test_oversized_body_is_rejected(server_url: str) -> None:
    huge = b'{"graph_id": "echo", "metadata": {"x": "' + b"a" * (11 * 1024 * 1024) + b'"}}'
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/assistants", content=huge, headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert response.json()["detail"]


async def test_deeply_nested_body_is_rejected_not_a_crash(server_url: str) -> None:
    nested = b'{"graph_id": "echo", "metadata": {"v": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post("/assistants", content=nested, headers={"content-type": "application/json"})
        still_up = await http.get("/ok")

    assert 400 <= response.status_code < 500, response.text
    assert still_up.status_code == 200
