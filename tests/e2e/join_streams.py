"""Thread join streams (`client.threads.join_stream`) for the tests: read until a run ends, and a join stream that
is surely connected before a test changes the thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

WAIT = 60.0
HELLO = {"messages": [{"role": "user", "content": "hi"}]}
EDITED = {"messages": [{"role": "user", "content": "edited"}]}


async def until_done(parts: AsyncIterator[StreamPart], run_id: str) -> list[StreamPart]:
    """Parts until the `run_done` lifecycle event of `run_id` (the stream stays open for more)."""
    seen: list[StreamPart] = []
    async for part in parts:
        seen.append(part)
        if part.event == "metadata" and part.data.get("status") == "run_done" and part.data["run_id"] == run_id:
            return seen
    return seen


async def connected_join(
    watcher: LangGraphClient, writer: LangGraphClient, modes: Sequence[str]
) -> tuple[str, str, AsyncIterator[StreamPart]]:
    """A thread (made through `writer`) and a join stream on it (through `watcher`, in `modes` plus `lifecycle`)
    that is surely connected: it resumes after the thread's first run, so it sees the second however late it
    connects, and it has delivered that run's end. Returns the thread, the second run and the stream."""
    thread_id = (await writer.threads.create())["thread_id"]
    first = await writer.runs.create(thread_id, "echo", input=HELLO)
    await writer.runs.join(thread_id, first["run_id"])
    parts = await watcher.threads.join_stream(
        thread_id, last_event_id=f"{first['run_id']}:done", stream_mode=[*modes, "lifecycle"]
    )
    second = await writer.runs.create(thread_id, "echo", input=HELLO)
    await asyncio.wait_for(until_done(parts, second["run_id"]), WAIT)
    return thread_id, second["run_id"], parts


async def parts_around_an_update(
    watcher: LangGraphClient, writer: LangGraphClient, modes: Sequence[str]
) -> dict[str, Any]:
    """A connected join stream's parts from a state update (made through `writer`) to the end of the run queued
    after it; with the thread, the run before the update and the run after it."""
    thread_id, before, parts = await connected_join(watcher, writer, modes)
    await writer.threads.update_state(thread_id, EDITED)
    after = await writer.runs.create(thread_id, "echo", input=HELLO)
    try:
        seen = await asyncio.wait_for(until_done(parts, after["run_id"]), WAIT)
    finally:
        await parts.aclose()  # an async generator: the connection closes now
    return {"thread_id": thread_id, "before": before, "after": after["run_id"], "parts": seen}
