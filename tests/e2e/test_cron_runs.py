"""Crons fire real runs on a running server (scheduler polling fast; next firing moved into the past)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient

from aegra.db.url import psycopg_conninfo
from aegra.settings import Settings


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, n_jobs_per_worker=4, cron_poll_seconds=0.1)


def _make_due(database_url: str, cron_id: str) -> None:
    with psycopg.connect(psycopg_conninfo(database_url), autocommit=True) as conn:
        conn.execute("UPDATE crons SET next_run_date = now() - interval '1 second' WHERE cron_id = %s", (cron_id,))


async def _wait_for_runs(client: LangGraphClient, thread_id: str, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        runs = await client.runs.list(thread_id)
        if len(runs) >= count:
            return runs
        await asyncio.sleep(0.05)
    raise AssertionError(f"no cron run appeared on thread {thread_id}")


async def test_thread_cron_fires_a_run_tagged_with_its_cron_id(client: LangGraphClient, database_url: str) -> None:
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(
        thread["thread_id"], "echo", schedule="* * * * *", input={"messages": [{"role": "user", "content": "tick"}]}
    )

    _make_due(database_url, cron["cron_id"])
    runs = await _wait_for_runs(client, thread["thread_id"], 1)
    await client.runs.join(thread["thread_id"], runs[0]["run_id"])
    state = await client.threads.get_state(thread["thread_id"])
    after = (await client.crons.search(thread_id=thread["thread_id"]))[0]

    assert runs[0]["metadata"]["cron_id"] == cron["cron_id"]
    assert state["values"]["messages"][-1]["content"] == "echo: tick"
    assert after["next_run_date"] > cron["created_at"]


async def test_deleted_cron_stops_firing(client: LangGraphClient, database_url: str) -> None:
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(thread["thread_id"], "echo", schedule="* * * * *", input={})
    _make_due(database_url, cron["cron_id"])
    await _wait_for_runs(client, thread["thread_id"], 1)

    await client.crons.delete(cron["cron_id"])
    await asyncio.sleep(0.5)  # several scheduler polls (0.1 s each) pass with nothing to fire

    assert len(await client.runs.list(thread["thread_id"])) == 1
