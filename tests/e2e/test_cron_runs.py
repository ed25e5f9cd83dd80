"""Crons fire real runs on a running server (scheduler polling fast; next firing moved into the past)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from langgraph_sdk.client import LangGraphClient

from aegra.db.url import psycopg_conninfo
from aegra.settings import Settings

RUN_APPEARS_SECONDS = 60.0


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, n_jobs_per_worker=4, cron_poll_seconds=0.1)


def _make_due(database_url: str, cron_id: str, *, seconds_ago: int = 1) -> None:
    with psycopg.connect(psycopg_conninfo(database_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE crons SET next_run_date = now() - make_interval(secs => %s) WHERE cron_id = %s",
            (seconds_ago, cron_id),
        )


async def _wait_for_runs(client: LangGraphClient, thread_id: str, count: int) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + RUN_APPEARS_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        runs = await client.runs.list(thread_id)
        if len(runs) >= count:
            return runs
        await asyncio.sleep(0.05)  # polling the API: no event tells a client that a cron fired
    raise AssertionError(f"no cron run appeared on thread {thread_id} within {RUN_APPEARS_SECONDS} s")


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
    deleted_thread = (await client.threads.create())["thread_id"]
    control_thread = (await client.threads.create())["thread_id"]
    deleted = await client.crons.create_for_thread(deleted_thread, "echo", schedule="* * * * *", input={})
    control = await client.crons.create_for_thread(control_thread, "echo", schedule="* * * * *", input={})
    _make_due(database_url, deleted["cron_id"])
    first = (await _wait_for_runs(client, deleted_thread, 1))[0]
    await client.runs.join(deleted_thread, first["run_id"])  # an idle thread: another firing would make a run

    await client.crons.delete(deleted["cron_id"])
    # Due before the control cron, the deleted one (were it still there) would fire first in the poll that fires the
    # control one: once the control run exists, that poll has come and gone.
    _make_due(database_url, deleted["cron_id"], seconds_ago=2)
    _make_due(database_url, control["cron_id"], seconds_ago=1)
    await _wait_for_runs(client, control_thread, 1)

    assert [run["run_id"] for run in await client.runs.list(deleted_thread)] == [first["run_id"]]
