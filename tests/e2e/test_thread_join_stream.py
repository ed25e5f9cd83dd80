"""The thread join stream through the real SDK (`client.threads.join_stream`): the events of the runs of a thread
while the client is connected, with `<run_id>:<seq>` ids to resume from with `Last-Event-ID`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

pytestmark = pytest.mark.e2e

WAIT = 60.0
HELLO = {"messages": [{"role": "user", "content": "hi"}]}
GATED = {"configurable": {"tokens": 3, "gated": True}}


async def _until_done(parts: AsyncIterator[StreamPart], run_id: str) -> list[StreamPart]:
    """Parts until the `run_done` lifecycle event of `run_id`."""
    seen: list[StreamPart] = []
    async for part in parts:
        seen.append(part)
        if part.event == "metadata" and part.data.get("status") == "run_done" and part.data["run_id"] == run_id:
            return seen
    return seen


async def _two_runs(client: LangGraphClient) -> tuple[str, dict[str, Any], list[StreamPart]]:
    """A gated run holds the thread while a join stream connects; a second run queued behind it is joined whole."""
    thread_id = (await client.threads.create())["thread_id"]
    await client.runs.create(thread_id, "tokens", input=HELLO, config=GATED)
    parts = await client.threads.join_stream(thread_id, stream_mode=["run_modes", "lifecycle"])
    later = await client.runs.create(thread_id, "echo", input={"messages": [{"role": "user", "content": "later"}]})
    collected = asyncio.create_task(_until_done(parts, later["run_id"]))
    await client.store.put_item(["gates"], thread_id, {"open": True})  # lets the first run finish
    return thread_id, later, await asyncio.wait_for(collected, WAIT)


async def test_join_stream_receives_a_run_started_after_it_connected(client: LangGraphClient) -> None:
    _, later, parts = await _two_runs(client)

    mine = [part for part in parts if part.id is not None and part.id.startswith(later["run_id"])]
    assert mine[0].event == "metadata" and mine[0].data["run_id"] == later["run_id"]
    assert [part.id for part in mine[:-1]] == [f"{later['run_id']}:{seq}" for seq in range(len(mine) - 1)]
    assert mine[-1].id == f"{later['run_id']}:done"
    final = [part.data for part in mine if part.event == "values"][-1]
    assert final["messages"][-1]["content"] == "echo: later"


async def test_join_stream_resumes_after_last_event_id(client: LangGraphClient) -> None:
    thread_id, later, parts = await _two_runs(client)
    mine = [part for part in parts if part.id is not None and part.id.startswith(later["run_id"])]

    resumed = await asyncio.wait_for(
        _until_done(
            await client.threads.join_stream(
                thread_id, last_event_id=mine[0].id, stream_mode=["run_modes", "lifecycle"]
            ),
            later["run_id"],
        ),
        WAIT,
    )

    assert [(part.id, part.event, part.data) for part in resumed] == [
        (part.id, part.event, part.data) for part in mine[1:]
    ]


async def test_an_unknown_last_event_id_replays_the_thread_from_its_first_run(client: LangGraphClient) -> None:
    thread_id, later, _ = await _two_runs(client)

    replayed = await asyncio.wait_for(
        _until_done(
            await client.threads.join_stream(
                thread_id, last_event_id="garbage", stream_mode=["run_modes", "lifecycle"]
            ),
            later["run_id"],
        ),
        WAIT,
    )

    run_ids = [part.data["run_id"] for part in replayed if part.event == "metadata" and "attempt" in part.data]
    assert len(run_ids) == 2
    assert run_ids[1] == later["run_id"]


async def test_join_stream_of_an_unknown_thread_is_404(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.get("/threads/00000000-0000-4000-8000-000000000000/stream")

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


async def test_join_stream_refuses_an_unknown_stream_mode(client: LangGraphClient, server_url: str) -> None:
    thread_id = (await client.threads.create())["thread_id"]

    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.get(f"/threads/{thread_id}/stream", params={"stream_mode": "everything"})

    assert response.status_code == 422
    assert "Invalid stream mode" in response.json()["detail"]
