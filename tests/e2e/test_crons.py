"""`client.crons.*` through the real SDK: create, search, count, update, delete and bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from aegra.graphs.registry import system_assistant_id


async def test_create_stateless_cron_keeps_the_run_payload(client: LangGraphClient) -> None:
    cron = await client.crons.create(
        "echo", schedule="0 0 * * *", input={"messages": [{"role": "user", "content": "hi"}]}, metadata={"m": 1}
    )

    assert cron["assistant_id"] == str(system_assistant_id("echo"))
    assert cron["thread_id"] is None
    assert cron["on_run_completed"] == "delete"
    assert cron["enabled"] is True
    assert cron["payload"]["input"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert cron["payload"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
    assert cron["next_run_date"].endswith("T00:00:00+00:00")


async def test_create_for_thread_needs_an_existing_thread(client: LangGraphClient, server_url: str) -> None:
    with pytest.raises(NotFoundError):
        await client.crons.create_for_thread(str(uuid.uuid4()), "echo", schedule="*/5 * * * *")


async def test_invalid_schedule_is_rejected_with_the_reason(client: LangGraphClient) -> None:
    with pytest.raises(UnprocessableEntityError, match="Invalid cron schedule: 'not a cron'"):
        await client.crons.create("echo", schedule="not a cron")
    with pytest.raises(UnprocessableEntityError, match="Invalid cron schedule"):
        await client.crons.create("echo", schedule="* * * * * *")


async def test_timezone_moves_the_next_firing(client: LangGraphClient) -> None:
    cron = await client.crons.create("echo", schedule="0 9 * * *", timezone="Asia/Tokyo")

    assert cron["timezone"] == "Asia/Tokyo"
    assert cron["next_run_date"].endswith("T00:00:00+00:00")


async def test_update_changes_schedule_and_clears_end_time(client: LangGraphClient, server_url: str) -> None:
    cron = await client.crons.create("echo", schedule="0 0 * * *", end_time=datetime.now(UTC) + timedelta(days=30))

    updated = await client.crons.update(cron["cron_id"], schedule="5 0 * * *", enabled=False)
    async with httpx.AsyncClient(base_url=server_url) as http:
        cleared = (await http.patch(f"/runs/crons/{cron['cron_id']}", json={"end_time": None})).json()

    assert updated["schedule"] == "5 0 * * *"
    assert updated["payload"]["schedule"] == "5 0 * * *"
    assert updated["next_run_date"].endswith("T00:05:00+00:00")
    assert updated["enabled"] is False
    assert cleared["end_time"] is None


async def test_search_count_and_delete(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    first = await client.crons.create("echo", schedule="0 1 * * *", metadata={"tag": tag})
    await client.crons.create("chat", schedule="0 2 * * *", metadata={"tag": tag})

    echo_only = await client.crons.search(assistant_id="echo", metadata={"tag": tag})
    page = await client.crons.search(metadata={"tag": tag}, limit=1, sort_by="created_at", sort_order="asc")
    projected = await client.crons.search(metadata={"tag": tag}, select=["cron_id", "schedule"])
    count = await client.crons.count(metadata={"tag": tag})
    await client.crons.delete(first["cron_id"])

    assert [item["cron_id"] for item in echo_only] == [first["cron_id"]]
    assert [item["cron_id"] for item in page] == [first["cron_id"]]
    assert all(set(item) == {"cron_id", "schedule"} for item in projected)
    assert count == 2
    assert await client.crons.count(metadata={"tag": tag}) == 1
    with pytest.raises(NotFoundError):
        await client.crons.delete(first["cron_id"])


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/runs/crons", {"schedule": "* * * * *"}, 422),
        ("POST", "/runs/crons", {"assistant_id": "echo"}, 422),
        ("POST", "/runs/crons", {"assistant_id": "nope", "schedule": "* * * * *"}, 422),
        ("POST", "/runs/crons", {"assistant_id": str(uuid.uuid4()), "schedule": "* * * * *"}, 404),
        ("POST", "/runs/crons", {"assistant_id": "echo", "schedule": "* * * * *", "timezone": "Mars/Olympus"}, 422),
        ("POST", "/runs/crons", {"assistant_id": "echo", "schedule": "* * * * *", "end_time": "yesterday"}, 422),
        ("POST", "/runs/crons", {"assistant_id": "echo", "schedule": 5}, 422),
        ("POST", "/runs/crons", {"assistant_id": "echo", "schedule": "* * * * *", "multitask_strategy": "x"}, 422),
        ("POST", "/threads/not-a-uuid/runs/crons", {"assistant_id": "echo", "schedule": "* * * * *"}, 422),
        ("POST", "/runs/crons/search", {"limit": 0}, 422),
        ("POST", "/runs/crons/search", {"sort_by": "secret"}, 422),
        ("POST", "/runs/crons/search", {"thread_id": "nope"}, 422),
        ("POST", "/runs/crons/count", {"metadata": []}, 422),
        ("GET", "/runs/crons/not-a-uuid", None, 422),
        ("GET", f"/runs/crons/{uuid.uuid4()}", None, 404),
        ("PATCH", f"/runs/crons/{uuid.uuid4()}", {"schedule": "* * * * *"}, 404),
        ("DELETE", f"/runs/crons/{uuid.uuid4()}", None, 404),
    ],
)
async def test_bad_cron_requests_get_a_clear_4xx(
    server_url: str, method: str, path: str, body: object, status: int
) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str)


async def test_patch_with_bad_schedule_keeps_the_old_one(client: LangGraphClient, server_url: str) -> None:
    cron = await client.crons.create("echo", schedule="0 3 * * *")

    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.patch(f"/runs/crons/{cron['cron_id']}", json={"schedule": "every day"})
    after = await client.crons.search(assistant_id="echo", limit=100)

    assert response.status_code == 422
    assert next(item for item in after if item["cron_id"] == cron["cron_id"])["schedule"] == "0 3 * * *"
