"""A burst of background runs: N `client.runs.create` calls of a graph that sleeps S seconds (each on its own new
thread), then the wall time until every run has ended, as the queue drains them N_JOBS_PER_WORKER at a time per
process. With the defaults (500 runs, 1 s, one process, N_JOBS_PER_WORKER=10) the floor is 50 s.

    .venv/bin/python bench/background_burst.py                     # starts its own server (embedded PostgreSQL)
    .venv/bin/python bench/background_burst.py --url http://127.0.0.1:2026 --runs 500 --seconds 1

Prints how long queueing took, the wall time to the last run's end, runs/s, and the spread of queue waits. The
server must serve tests/graphs/aegra.durable.json when `--url` is given (the `sleeper` graph).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import AsyncExitStack
from datetime import datetime

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from stream_tokens import start_server  # bench/ is on sys.path when run
from threads_search import REPO_ROOT, percentile

CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.durable.json"
JOINS_AT_ONCE = 50


async def burst(client: LangGraphClient, *, runs: int, seconds: float) -> None:
    config = {"configurable": {"seconds": seconds}}
    started = time.perf_counter()
    created = await asyncio.gather(
        *(
            client.runs.create(str(uuid.uuid4()), "sleeper", input={}, config=config, if_not_exists="create")
            for _ in range(runs)
        )
    )
    queued = time.perf_counter() - started
    gate = asyncio.Semaphore(JOINS_AT_ONCE)

    async def join(run: dict) -> dict:
        async with gate:
            await client.runs.join(run["thread_id"], run["run_id"])
            return await client.runs.get(run["thread_id"], run["run_id"])

    finished = await asyncio.gather(*(join(run) for run in created))
    wall = time.perf_counter() - started
    statuses = {run["status"] for run in finished}
    # queue wait: from creation to the start of execution (run end minus the graph's sleep), by server clocks
    waits = [
        (datetime.fromisoformat(run["updated_at"]) - datetime.fromisoformat(run["created_at"])).total_seconds()
        - seconds
        for run in finished
    ]
    print(
        f"{'runs':>6} {'sleep s':>8} {'queued s':>9} {'wall s':>8} {'runs/s':>7} {'wait p50 s':>11} {'wait max s':>11}"
    )
    print(
        f"{runs:>6} {seconds:>8g} {queued:>9.2f} {wall:>8.2f} {runs / wall:>7.1f} "
        f"{percentile(waits, 0.5):>11.2f} {max(waits):>11.2f}"
    )
    assert statuses == {"success"}, statuses


async def run(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        url = args.url or await start_server(stack, config=CONFIG, workers=args.workers)
        client = get_client(url=url, api_key=None, timeout=600)
        stack.push_async_callback(client.http.client.aclose)
        await client.runs.wait(None, "sleeper", input={}, config={"configurable": {"seconds": 0}})  # warm-up
        await burst(client, runs=args.runs, seconds=args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server that serves tests/graphs/aegra.durable.json")
    parser.add_argument("--runs", type=int, default=500, help="background runs to queue (default 500)")
    parser.add_argument("--seconds", type=float, default=1.0, help="how long each run sleeps (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="`aegra serve --workers` when starting one (default 1)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
