"""Run throughput: `client.runs.wait` on the trivial `echo` graph, from N concurrent SDK clients, each starting
its next run as soon as the previous one answered. Stateless runs (throwaway thread, no checkpoints) and runs
on a new thread each (`if_not_exists="create"`: checkpoints in PostgreSQL, thread state kept). Each run starts
from an empty thread so the numbers do not drift with a growing message history.

    .venv/bin/python bench/runs_wait.py                          # starts its own server (embedded PostgreSQL)
    .venv/bin/python bench/runs_wait.py --url http://127.0.0.1:2026 --concurrency 8 --duration 10

Prints runs/s and latency percentiles per mode. The server must serve tests/graphs/aegra.json when `--url` is
given; its N_JOBS_PER_WORKER bounds how many runs execute at once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from contextlib import AsyncExitStack

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from stream_tokens import start_server  # bench/ is on sys.path when run
from threads_search import percentile

HI = {"messages": [{"role": "user", "content": "hi"}]}


async def client_loop(client: LangGraphClient, *, stateless: bool, until: float, latencies: list[float]) -> None:
    """One client: `runs.wait` back to back until the deadline."""
    while time.perf_counter() < until:
        thread_id = None if stateless else str(uuid.uuid4())
        started = time.perf_counter()
        output = await client.runs.wait(thread_id, "echo", input=HI, if_not_exists="create")
        latencies.append(time.perf_counter() - started)
        assert output["messages"][-1]["content"] == "echo: hi", output


async def measure(client: LangGraphClient, *, stateless: bool, concurrency: int, duration: float) -> None:
    latencies: list[float] = []
    started = time.perf_counter()
    until = started + duration
    await asyncio.gather(
        *(client_loop(client, stateless=stateless, until=until, latencies=latencies) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    name = "stateless" if stateless else "on a thread"
    print(
        f"{name:<12} {concurrency:>11} {len(latencies):>6} {len(latencies) / elapsed:>8.1f} "
        f"{statistics.median(latencies) * 1000:>8.1f} {percentile(latencies, 0.95) * 1000:>8.1f}"
    )


async def run(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        url = args.url or await start_server(stack)
        client = get_client(url=url, api_key=None)
        stack.push_async_callback(client.http.client.aclose)
        for stateless in (True, False):  # warm-up: imports, pools, first-run caches
            await client.runs.wait(
                None if stateless else (await client.threads.create())["thread_id"], "echo", input=HI
            )
        print(f"runs.wait on `echo`, {args.duration:g}s per row\n")
        print(f"{'mode':<12} {'concurrency':>11} {'runs':>6} {'runs/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
        for concurrency in args.concurrency:
            for stateless in (True, False):
                await measure(client, stateless=stateless, concurrency=concurrency, duration=args.duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server that serves tests/graphs/aegra.json (default: start one)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8], help="concurrent clients, one row each (default 1 8)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per row (default 10)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
