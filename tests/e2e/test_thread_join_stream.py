"""The thread join stream through the real SDK (`client.threads.join_stream`): the events of the runs of a thread
while the client is connected, with `<run_id>:<seq>` ids to resume from with `Last-Event-ID`, and its state
updates for a client that asked for `state_update`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

from tests.e2e.join_streams import HELLO, WAIT, parts_around_an_update
from tests.e2e.join_streams import until_done as _until_done

pytestmark = pytest.mark.e2e

GATED = {"configurable": {"tokens": 3, "gated": True}}


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


async def test_a_state_update_reaches_a_join_stream_that_asked_for_it(client: LangGraphClient) -> None:
    seen = await parts_around_an_update(client, client, ["state_update"])

    updates = [part for part in seen["parts"] if part.event == "state_update"]
    assert len(updates) == 1
    update = updates[0]
    state = update.data["state"]
    assert update.data["thread_id"] == seen["thread_id"]
    assert state["values"]["messages"][-1]["content"] == "edited"
    checkpoint_id = state["checkpoint"]["checkpoint_id"]
    assert state == await client.threads.get_state(seen["thread_id"], checkpoint_id=checkpoint_id)
    assert update.id == f"{seen['before']}:state:{checkpoint_id}"
    assert seen["parts"][0] is update, "the update comes before the run queued after it"


async def test_a_join_stream_without_state_update_does_not_get_state_updates(client: LangGraphClient) -> None:
    seen = await parts_around_an_update(client, client, ["run_modes"])

    assert [part for part in seen["parts"] if part.event == "state_update"] == []
    assert seen["parts"][-1].data["run_id"] == seen["after"]


async def test_a_state_update_id_resumes_with_the_runs_queued_after_it(client: LangGraphClient) -> None:
    seen = await parts_around_an_update(client, client, ["state_update"])
    update = next(part for part in seen["parts"] if part.event == "state_update")

    resumed = await asyncio.wait_for(
        _until_done(
            await client.threads.join_stream(seen["thread_id"], last_event_id=update.id, stream_mode="lifecycle"),
            seen["after"],
        ),
        WAIT,
    )

    assert {part.data["run_id"] for part in resumed} == {seen["after"]}
    assert [part.event for part in resumed] == ["metadata", "metadata"]
