"""Thread streams across real `aegra serve` processes on one PostgreSQL: a v3 thread stream opened on one process
follows a run that another process executes (its events reach it through `run_events`, or Redis when set), and a
join stream on one process gets the state updates made on the other (announced with NOTIFY)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest

from tests.e2e.durable_servers import PROCESS_TEST_TIMEOUT, Server, server_pair
from tests.e2e.join_streams import parts_around_an_update

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(PROCESS_TEST_TIMEOUT)]

WAIT = 120.0
TOKENS = 50
TOKEN_TEXT = "".join(f"t{index} " for index in range(TOKENS))


@pytest.fixture(scope="module", params=["postgres", "redis"])
async def pair(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Server, Server]]:
    async with server_pair(database_url, redis=request.param == "redis") as servers:
        yield servers


async def _texts(thread: Any) -> list[str]:
    messages = [message async for message in thread.messages]
    return [await message.text for message in messages]


@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_a_thread_stream_follows_a_run_executing_on_another_process(
    pair: tuple[Server, Server], transport: Literal["sse", "websocket"]
) -> None:
    busy = pair[1]
    blocker_thread = (await busy.client.threads.create())["thread_id"]
    blocker = busy.client.runs.stream(blocker_thread, "steps", input={}, config={"configurable": {"delay": 30}})
    first_part = await anext(blocker)  # a streamed run starts where its client is: it takes the only slot

    async with busy.client.threads.stream(assistant_id="tokens", transport=transport) as thread:
        started = await thread.run.start(
            input={"messages": [{"role": "user", "content": "hi"}]}, config={"configurable": {"tokens": TOKENS}}
        )
        texts = await asyncio.wait_for(_texts(thread), WAIT)
        output = await asyncio.wait_for(thread.output, WAIT)
    await busy.client.runs.cancel(blocker_thread, first_part.data["run_id"])
    await blocker.aclose()

    assert texts == [TOKEN_TEXT]
    assert output["messages"][-1]["content"] == TOKEN_TEXT
    assert not any("run finished" in line and started["run_id"] in line for line in busy.output), "it ran here"


async def test_a_join_stream_gets_a_state_update_made_on_another_process(pair: tuple[Server, Server]) -> None:
    watcher, writer = pair

    seen = await parts_around_an_update(watcher.client, writer.client, ["state_update"])

    updates = [part for part in seen["parts"] if part.event == "state_update"]
    assert len(updates) == 1
    assert updates[0].data["thread_id"] == seen["thread_id"]
    assert updates[0].data["state"]["values"]["messages"][-1]["content"] == "edited"
