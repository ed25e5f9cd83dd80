"""Crash recovery with real processes: a server killed with SIGKILL mid-run, then started again on the same
database, finishes the run from its last checkpoint (attempt 2)."""

from __future__ import annotations

import signal

from tests.e2e.durable_servers import aegra_serve, eventually, steps_done


async def test_sigkill_mid_run_then_restart_resumes_the_run_from_its_last_checkpoint(database_url: str) -> None:
    async with aegra_serve(database_url) as first:
        thread_id = (await first.client.threads.create())["thread_id"]
        run = await first.client.runs.create(
            thread_id, "steps", input={}, config={"configurable": {"steps": 8, "delay": 0.25}}
        )
        await eventually(lambda: steps_done(first.client, thread_id, 2), what="two steps")
        await first.stop(signal.SIGKILL)

    async with aegra_serve(database_url) as restarted:
        await restarted.client.runs.join(thread_id, run["run_id"])
        finished = await restarted.client.runs.get(thread_id, run["run_id"])
        state = await restarted.client.threads.get_state(thread_id)
        thread = await restarted.client.threads.get(thread_id)
        parts = restarted.client.runs.join_stream(thread_id, run["run_id"], last_event_id="-1")
        events = [part async for part in parts]

    attempts = [part.data["attempt"] for part in events if part.event == "metadata"]
    assert finished["status"] == "success"
    assert thread["status"] == "idle"
    assert state["values"]["starts"] == [1], "the second attempt resumed instead of starting over from the input"
    assert len(state["values"]["steps"]) == 8
    assert set(state["values"]["steps"]) == {1, 2}
    assert attempts == [1, 2]
    assert [int(part.id) for part in events] == sorted(int(part.id) for part in events)
