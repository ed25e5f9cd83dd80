"""Thread search at scale: insert N thread rows with SQL into a scratch database, then time
`client.threads.search` / `client.threads.count` through a running Aegra server (real SDK, real HTTP).

    .venv/bin/python bench/threads_search.py                    # 100k threads, embedded PostgreSQL
    .venv/bin/python bench/threads_search.py --threads 20000 --iterations 50
    DATABASE_URL=postgresql://... .venv/bin/python bench/threads_search.py --explain

Prints p50/p95 latency per query (milliseconds, client side, sequential requests) and, with `--explain`,
the PostgreSQL plan of the SQL each search runs, to show which index it uses. The scratch database is
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from aegra.db.embedded import EmbeddedPostgres
from aegra.db.url import psycopg_conninfo, with_database

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.json"
USERS = 1000
ORGS = 10
GRAPHS = ("agent", "echo", "chat")

INSERT_THREADS_SQL = """
INSERT INTO threads (thread_id, metadata, config, status, values, interrupts, created_at, updated_at, state_updated_at)
SELECT gen_random_uuid(),
       jsonb_build_object(
           'graph_id', (ARRAY['agent', 'echo', 'chat'])[1 + i %% 3],
           'user_id', 'user-' || (i %% %(users)s::int),
           'org', 'org-' || (i %% %(orgs)s::int),
           'source', 'bench'),
       '{}'::jsonb,
       CASE WHEN i %% 50 = 0 THEN 'interrupted' WHEN i %% 97 = 0 THEN 'error' ELSE 'idle' END,
       jsonb_build_object('messages', jsonb_build_array(
           jsonb_build_object('type', 'human', 'content', 'hello ' || i, 'id', 'h-' || i,
                              'additional_kwargs', '{}'::jsonb, 'response_metadata', '{}'::jsonb),
           jsonb_build_object('type', 'ai', 'content', 'echo: hello ' || i, 'id', 'a-' || i, 'tool_calls', '[]'::jsonb,
                              'additional_kwargs', '{}'::jsonb, 'response_metadata', '{}'::jsonb))),
       '{}'::jsonb,
       now() - make_interval(secs => i),
       now() - make_interval(secs => i),
       now() - make_interval(secs => i)
FROM generate_series(%(start)s::int, %(stop)s::int) AS i
"""

# The SQL ThreadService.search emits for a metadata filter (see --explain).
EXPLAIN_SQL = {
    "metadata user_id": 'SELECT * FROM threads WHERE metadata @> \'{"user_id": "user-42"}\' '
    "ORDER BY updated_at DESC, thread_id DESC LIMIT 11",
    "metadata graph_id": 'SELECT * FROM threads WHERE metadata @> \'{"graph_id": "agent"}\' '
    "ORDER BY updated_at DESC, thread_id DESC LIMIT 11",
    "values": 'SELECT * FROM threads WHERE values @> \'{"messages": [{"content": "hello 4242"}]}\' '
    "ORDER BY updated_at DESC, thread_id DESC LIMIT 11",
    "metadata no match": 'SELECT * FROM threads WHERE metadata @> \'{"user_id": "nobody"}\' '
    "ORDER BY updated_at DESC, thread_id DESC LIMIT 11",
    "metadata graph_id+user_id": 'SELECT * FROM threads WHERE metadata @> \'{"graph_id": "agent", '
    '"user_id": "user-42"}\' ORDER BY updated_at DESC, thread_id DESC LIMIT 11',
    "metadata org + status": 'SELECT * FROM threads WHERE metadata @> \'{"org": "org-3"}\' '
    "AND status = 'interrupted' ORDER BY updated_at DESC, thread_id DESC LIMIT 11",
    "count user_id": 'SELECT count(*) FROM threads WHERE metadata @> \'{"user_id": "user-42"}\'',
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=url) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"aegra serve exited with {process.returncode}")
            try:
                if (await http.get("/ok")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError("aegra serve did not come up")


def insert_threads(conninfo: str, count: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for start in range(1, count + 1, 10_000):
            stop = min(count, start + 9_999)
            conn.execute(INSERT_THREADS_SQL, {"start": start, "stop": stop, "users": USERS, "orgs": ORGS})
        conn.execute("VACUUM ANALYZE threads")  # steady state: autovacuum has flushed the GIN pending lists
    return time.perf_counter() - started


def explain(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name, sql in EXPLAIN_SQL.items():
            plan = conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {sql}").fetchall()
            print(f"\n-- {name}")
            for (line,) in plan:
                print("   ", line)


async def time_query(call: Callable[[], Awaitable[Any]], iterations: int) -> tuple[list[float], Any]:
    result = None
    for _ in range(min(10, iterations)):  # warm up connections, plans and caches
        result = await call()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        result = await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def queries(client: LangGraphClient) -> dict[str, Callable[[], Awaitable[Any]]]:
    threads = client.threads
    return {
        "search metadata user_id (0.1%)": lambda: threads.search(metadata={"user_id": "user-42"}),
        "search metadata graph_id (33%)": lambda: threads.search(metadata={"graph_id": "agent"}),
        "search metadata graph_id+user_id": lambda: threads.search(
            metadata={"graph_id": "agent", "user_id": "user-42"}
        ),
        "search metadata org + status": lambda: threads.search(metadata={"org": "org-3"}, status="interrupted"),
        "search values containment (1 row)": lambda: threads.search(values={"messages": [{"content": "hello 4242"}]}),
        "search no filter": lambda: threads.search(),
        "search user_id offset 50 asc": lambda: threads.search(
            metadata={"user_id": "user-42"}, offset=50, sort_by="created_at", sort_order="asc"
        ),
        "search no match": lambda: threads.search(metadata={"user_id": "nobody"}),
        "search limit 100 + select": lambda: threads.search(
            metadata={"graph_id": "agent"}, limit=100, select=["thread_id", "status", "updated_at"]
        ),
        "count metadata user_id": lambda: threads.count(metadata={"user_id": "user-42"}),
        "count metadata graph_id (33%)": lambda: threads.count(metadata={"graph_id": "agent"}),
    }


async def run(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        server_url = args.database_url or os.environ.get("DATABASE_URL")
        if server_url is None:
            pgdata = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aegra-bench-"))) / "pgdata"
            embedded = EmbeddedPostgres(pgdata)
            server_url = embedded.start()
            stack.callback(embedded.stop)
        scratch = f"aegra_bench_threads_{uuid.uuid4().hex[:8]}"
        admin = psycopg_conninfo(server_url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{scratch}"')

        def drop_scratch() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')

        stack.callback(drop_scratch)
        database_url = with_database(server_url, scratch)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
        command = [
            sys.executable,
            "-m",
            "aegra",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            str(CONFIG),
        ]
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT)  # noqa: ASYNC220 - started once, before timing
        stack.callback(process.wait, 30)
        stack.callback(process.terminate)
        url = f"http://127.0.0.1:{port}"
        await wait_until_up(url, process)

        seconds = insert_threads(psycopg_conninfo(database_url), args.threads)
        print(f"inserted {args.threads} threads in {seconds:.1f}s; {args.iterations} sequential requests per query\n")
        client = get_client(url=url, api_key=None)
        stack.push_async_callback(client.http.client.aclose)
        print(f"{'query':<38} {'rows':>5} {'p50 ms':>8} {'p95 ms':>8}")
        for name, call in queries(client).items():
            samples, result = await time_query(call, args.iterations)
            rows = result if isinstance(result, int) else len(result)
            print(f"{name:<38} {rows:>5} {statistics.median(samples):>8.2f} {percentile(samples, 0.95):>8.2f}")
        if args.explain:
            explain(psycopg_conninfo(database_url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=100_000, help="thread rows to insert (default 100000)")
    parser.add_argument("--iterations", type=int, default=200, help="timed requests per query (default 200)")
    parser.add_argument("--database-url", help="PostgreSQL server to use (default: $DATABASE_URL, else embedded)")
    parser.add_argument("--explain", action="store_true", help="print the query plans after timing")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
