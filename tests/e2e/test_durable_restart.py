"""Crash recovery with real processes: a server killed with SIGKILL mid-run, then started again on the same
database and port, finishes its runs from their last checkpoint (attempt 2), and an SDK client streaming one of
them carries on through the restart without losing or repeating an event."""

from __future__ import annotations

import asyncio
import signal
from urllib.parse import urlsplit

import pytest
from langgraph_sdk.schema import StreamPart

from tests.e2e.durable_servers import CRASH_LEASES, PROCESS_TEST_TIMEOUT, aegra_serve, eventually, steps_done

pytestmark = pytest.mark.timeout(PROCESS_TEST_TIMEOUT)

STEPS = {"configurable": {"steps": 8, "delay": 0.25}}


async def test_sigkill_mid_run_then_restart_resumes_the_runs_from_their_last_checkpoint(database_url: str) -> None:
    async with aegra_serve(database_url, leases=CRASH_LEASES) as first:
        port = urlsplit(first.url).port
        thread_id = (await first.client.threads.create())["thread_id"]
        run = await first.client.runs.create(thread_id, "steps", input={}, config=STEPS)
        streamed_thread = (await first.client.threads.create())["thread_id"]
        streamed: list[StreamPart] = []

        async def follow() -> None:
            parts = first.client.runs.stream(
                streamed_thread, "steps", input={}, config=STEPS, stream_mode="updates", stream_resumable=True
            )
            async for part in parts:  # the SDK reconnects to `Location` with Last-Event-ID when the server dies
                streamed.append(part)

        following = asyncio.create_task(follow())
        await eventually(lambda: steps_done(first.client, thread_id, 2), what="two steps")
        await eventually(lambda: steps_done(first.client, streamed_thread, 2), what="two streamed steps")
        await first.stop(signal.SIGKILL)

        async with aegra_serve(database_url, port=port) as restarted:
            await restarted.client.runs.join(thread_id, run["run_id"])
            await asyncio.wait_for(following, 60)
            finished = await restarted.client.runs.get(thread_id, run["run_id"])
            state = await restarted.client.threads.get_state(thread_id)
            streamed_state = await restarted.client.threads.get_state(streamed_thread)
            thread = await restarted.client.threads.get(thread_id)
            parts = restarted.client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")
            events = [part async for part in parts]

    assert finished["status"] == "success"
    assert thread["status"] == "idle"
    for values in (state["values"], streamed_state["values"]):
        assert values["starts"] == [1], "the second attempt resumed instead of starting over from the input"
        assert len(values["steps"]) == 8
        assert set(values["steps"]) == {1, 2}
    for received in (events, streamed):
        ids = [int(part.id) for part in received]
        assert ids == sorted(set(ids)), "ids only go up: nothing repeated"
        assert [part.data["attempt"] for part in received if part.event == "metadata"] == [1, 2]
    # every step's update arrived, those of the steps attempt 2 re-ran included
    assert len([part for part in streamed if part.event == "updates"]) >= 1 + 8
