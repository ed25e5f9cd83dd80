"""BG_JOB_TIMEOUT_SECS: a run that runs too long ends `timeout`, and its stream says so."""

from __future__ import annotations

import pytest
from langgraph_sdk.client import LangGraphClient

from aegra.settings import Settings


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, n_jobs_per_worker=2, bg_job_timeout_secs=1)


async def test_a_run_past_the_timeout_ends_timeout_with_an_error_event(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    created: list[dict[str, str]] = []

    parts = [
        part
        async for part in client.runs.stream(
            thread_id, "slow", input={}, stream_mode="updates", on_run_created=created.append
        )
    ]
    run = await client.runs.get(thread_id, created[0]["run_id"])
    thread = await client.threads.get(thread_id)

    assert parts[-1].event == "error"
    assert parts[-1].data == {"error": "TimeoutError", "message": "Run timed out after 1 s (BG_JOB_TIMEOUT_SECS)"}
    assert run["status"] == "timeout"
    assert thread["status"] == "error"
    assert parts[1].event == "updates", "the steps before the timeout were streamed"
