"""The workloads, through the official `langgraph_sdk` client, against one running server."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient

HI = {"messages": [{"role": "user", "content": "hi"}]}
MAX_ERRORS = 20


def reason(error: BaseException) -> str:
    """A one-line description of why a workload failed, for the table."""
    text = str(error).splitlines()[0] if str(error) else ""
    if isinstance(error, httpx.HTTPStatusError):
        text = f"HTTP {error.response.status_code} {error.request.method} {error.request.url.path}"
    return f"{type(error).__name__}: {text}"[:90]


def sdk_client(url: str, *, connections: int | None = None, timeout: float = 300.0) -> LangGraphClient:
    """An SDK client whose connection pool does not cap the concurrency (`get_client` caps it at 100)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    http = httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(timeout))
    return LangGraphClient(http)


async def for_duration(concurrency: int, duration: float, call: Callable[[], Awaitable[Any]]) -> float:
    """`concurrency` loops calling `call` back to back for `duration` seconds; returns completed calls/s."""
    done = 0
    errors: list[BaseException] = []

    async def loop(until: float) -> None:
        nonlocal done
        while time.perf_counter() < until and len(errors) < MAX_ERRORS:
            try:
                await call()
            except Exception as error:  # noqa: BLE001 - counted, and the first one is reported
                errors.append(error)
                continue
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(started + duration) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if errors and (done == 0 or len(errors) >= MAX_ERRORS):
        raise errors[0]
    if errors:
        print(f"    {len(errors)} failed calls, first: {reason(errors[0])}", flush=True)
    return done / elapsed


async def rate(concurrency: int, call: Callable[[], Awaitable[Any]], args: Any) -> float:
    """Calls/s after a discarded warm-up."""
    await for_duration(concurrency, args.warmup, call)
    return await for_duration(concurrency, args.duration, call)


async def threads_create(client: LangGraphClient, args: Any) -> float:
    return await rate(32, client.threads.create, args)


async def _wait_echo(client: LangGraphClient, mode: str) -> None:
    if mode == "stateless":
        output = await client.runs.wait(None, "echo", input=HI)
    elif mode == "if_not_exists":
        output = await client.runs.wait(str(uuid.uuid4()), "echo", input=HI, if_not_exists="create")
    else:  # "create": threads.create first, for servers without if_not_exists
        thread = await client.threads.create()
        output = await client.runs.wait(thread["thread_id"], "echo", input=HI)
    if not isinstance(output, dict) or output.get("messages", [{}])[-1].get("content") != "echo: hi":
        raise AssertionError(f"unexpected output {str(output)[:80]}")


async def runs_wait(client: LangGraphClient, mode: str, args: Any) -> float:
    await _wait_echo(client, mode)  # fails fast if the mode is not supported
    return await rate(16, lambda: _wait_echo(client, mode), args)


async def stream_once(client: LangGraphClient, tokens: int) -> tuple[int, float, float, float]:
    """(AI token events, seconds to the last one, seconds to the first token, seconds to the first event)."""
    started = time.perf_counter()
    first_token = first_event = 0.0
    count = 0
    async for part in client.runs.stream(None, "tokens", input={**HI, "tokens": tokens}, stream_mode="messages-tuple"):
        first_event = first_event or time.perf_counter() - started
        if part.event == "error":
            raise RuntimeError(f"error event: {str(part.data)[:80]}")
        if part.event != "messages" or not isinstance(part.data, list) or not part.data:
            continue
        message = part.data[0]
        if message.get("content") and message.get("type") in (None, "AIMessageChunk", "ai"):
            count += 1
            first_token = first_token or time.perf_counter() - started
    return count, time.perf_counter() - started, first_token, first_event


async def stream_tokens(client: LangGraphClient, args: Any) -> tuple[float, float]:
    """Median tokens/s (request to last token) and median time to first token in ms, over `stream_repeat`."""
    await stream_once(client, args.tokens)
    samples = [await stream_once(client, args.tokens) for _ in range(args.stream_repeat)]
    counts = {sample[0] for sample in samples}
    if counts != {args.tokens}:
        raise AssertionError(f"expected {args.tokens} token events, got {sorted(counts)}")
    return (
        statistics.median(count / seconds for count, seconds, _, _ in samples),
        statistics.median(sample[2] for sample in samples) * 1000,
    )


async def bounded(limit: int, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


async def burst(client: LangGraphClient, args: Any) -> float:
    """Seconds from the first `runs.create` of `args.burst` 1 s runs (each on a new thread) to the last run's end.

    The ends are awaited with `runs.join` (50 at a time), not by polling `runs.get`, so the client does not add
    load while the server drains its queue; every run's final status is checked afterwards.
    """
    threads = await bounded(32, [client.threads.create for _ in range(args.burst)])
    sleeper_input = {"messages": [], "seconds": 1.0}
    started = time.perf_counter()
    runs = await bounded(
        32, [lambda t=t: client.runs.create(t["thread_id"], "sleeper", input=sleeper_input) for t in threads]
    )
    await bounded(50, [lambda r=r: client.runs.join(r["thread_id"], r["run_id"]) for r in runs])
    wall = time.perf_counter() - started
    states = await bounded(16, [lambda r=r: client.runs.get(r["thread_id"], r["run_id"]) for r in runs])
    failed = [state["status"] for state in states if state["status"] != "success"]
    if failed:
        raise RuntimeError(f"{len(failed)} runs did not succeed, e.g. {failed[0]}")
    return wall


async def run_ops(ops: int, concurrency: int, operation: Callable[[int], Awaitable[None]]) -> float:
    """`operation(0..ops-1)` from `concurrency` workers; returns operations/s."""
    indices = iter(range(ops))

    async def worker() -> None:
        for i in indices:
            await operation(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ops / (time.perf_counter() - started)


async def store_ops(client: LangGraphClient, args: Any) -> tuple[float, float, float]:
    """put / get / search ops/s, 16 clients, `args.store_ops` operations each, under a fresh namespace."""
    root = f"bench-{uuid.uuid4().hex[:8]}"
    ops = args.store_ops

    def namespace(i: int) -> list[str]:
        return [root, f"user-{i % 20}"]

    async def put(i: int) -> None:
        await client.store.put_item(namespace(i), f"m{i}", {"text": f"memory {i}", "n": i})

    async def get(i: int) -> None:
        if await client.store.get_item(namespace(i), f"m{i}") is None:
            raise RuntimeError(f"item m{i} missing")

    async def search(i: int) -> None:
        await client.store.search_items(namespace(i), limit=10)

    rates = [await run_ops(ops, 16, operation) for operation in (put, get, search)]
    return rates[0], rates[1], rates[2]


async def concurrent_streams(url: str, args: Any) -> tuple[float, float]:
    """`args.streams` stateless streams of 200 tokens at once: (seconds until all are done, first event p50 s)."""
    client = sdk_client(url, connections=None, timeout=600.0)
    firsts: list[float] = []

    async def one() -> None:
        count, _, _, first_event = await stream_once(client, 200)
        if count != 200:
            raise AssertionError(f"a stream ended after {count} of 200 tokens")
        firsts.append(first_event)

    try:
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one() for _ in range(args.streams)), return_exceptions=True)
        done = time.perf_counter() - started
    finally:
        await client.http.client.aclose()
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise RuntimeError(f"{len(errors)} of {args.streams} streams failed, first: {reason(errors[0])}")
    return done, statistics.median(firsts)
