"""Store throughput: put / get / search / semantic search / delete operations per second through the real SDK.

Point it at a running server (start one with `aegra serve`; add `store.index` to its config to measure
semantic search with that embedding):

    .venv/bin/python bench/store_ops.py --url http://127.0.0.1:2026
    .venv/bin/python bench/store_ops.py --url http://127.0.0.1:2026 --ops 5000 --concurrency 32

Each phase runs `--ops` operations from `--concurrency` workers sharing one SDK client, and prints ops/s and
client-side p50/p95 latency. The items live under a fresh namespace and are deleted by the last phase.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

WORDS = ("apple", "banana", "cherry", "tea", "coffee", "oslo", "paris", "zebra", "piano", "river", "mountain", "pizza")
USERS = 20


@dataclass(frozen=True, slots=True)
class PhaseResult:
    name: str
    ops: int
    seconds: float
    latencies_ms: list[float]

    def line(self) -> str:
        ranked = sorted(self.latencies_ms)
        p95 = ranked[min(len(ranked) - 1, int(len(ranked) * 0.95))]
        return (
            f"{self.name:<16} {self.ops / self.seconds:>9.0f} ops/s   "
            f"p50 {statistics.median(ranked):6.1f} ms   p95 {p95:6.1f} ms   ({self.ops} ops, {self.seconds:.2f} s)"
        )


def memory_text(i: int) -> str:
    """A short deterministic sentence, so semantic search has something to rank."""
    return " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7))


async def run_phase(
    name: str, ops: int, concurrency: int, operation: Callable[[int], Awaitable[object]]
) -> PhaseResult:
    """Run `operation(0..ops-1)` from `concurrency` workers; time each call and the whole phase."""
    latencies: list[float] = []
    next_index = iter(range(ops))

    async def worker() -> None:
        for i in next_index:
            started = time.perf_counter()
            await operation(i)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return PhaseResult(name, ops, time.perf_counter() - started, latencies)


async def bench(client: LangGraphClient, *, ops: int, concurrency: int) -> list[PhaseResult]:
    root = f"bench-{uuid.uuid4().hex[:8]}"

    def namespace(i: int) -> list[str]:
        return [root, f"user-{i % USERS}"]

    async def put(i: int) -> None:
        await client.store.put_item(namespace(i), f"m{i}", {"text": memory_text(i), "n": i, "user": i % USERS})

    async def get(i: int) -> None:
        item = await client.store.get_item(namespace(i), f"m{i}")
        if item is None:
            raise RuntimeError(f"item m{i} missing")

    async def search(i: int) -> None:
        await client.store.search_items(namespace(i), filter={"n": {"$gte": i}}, limit=10)

    async def semantic(i: int) -> None:
        await client.store.search_items(namespace(i), query=memory_text(i + 1), limit=10)

    async def delete(i: int) -> None:
        await client.store.delete_item(namespace(i), f"m{i}")

    results = []
    for name, operation in (
        ("put", put),
        ("get", get),
        ("search (filter)", search),
        ("search (query)", semantic),
        ("delete", delete),
    ):
        results.append(await run_phase(name, ops, concurrency, operation))
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:2026", help="base URL of a running Aegra server")
    parser.add_argument("--ops", type=int, default=2000, help="operations per phase")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent workers")
    args = parser.parse_args()

    client = get_client(url=args.url, api_key=None)
    try:
        await client.store.list_namespaces(limit=1)  # fail early when nothing listens
        results = await bench(client, ops=args.ops, concurrency=args.concurrency)
    finally:
        await client.http.client.aclose()
    print(f"store ops against {args.url}: {args.ops} ops per phase, concurrency {args.concurrency}")
    for result in results:
        print(result.line())


if __name__ == "__main__":
    asyncio.run(main())
