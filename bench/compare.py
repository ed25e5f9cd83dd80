"""Side by side, in one sitting: Aegra, `langgraph dev`, aegra-api 0.11 and the in-process limit (issue 18).

One command starts each server in turn as a user would (default settings: `aegra serve` on its embedded
PostgreSQL, default LOG_LEVEL), runs the same workloads on the bench graphs in bench/graphs/ through the official
`langgraph_sdk` client, stops it, starts it again to time a warm startup, and then prints one table with the
ratios ours / best peer and ours / limit:

    .venv/bin/python bench/compare.py                       # aegra, lgdev, aegra011 and the limit
    .venv/bin/python bench/compare.py --only aegra,limit    # a subset (the ratio columns use what was measured)

Workloads: threads.create (32 clients); runs.wait of `echo` on a new thread each and stateless (16 clients);
a 1,000-token `messages-tuple` stream of `tokens` (tokens/s and first token, median of 5); 500 background runs
of `sleeper` (1 s) on 500 threads, wall time to the last end; store put / get / search (16 clients); server RSS;
1,000 concurrent stateless streams of 200 tokens (time until all are done, median time to the first event);
warm startup to `/ok` (`/health` on aegra-api 0.11). The limit is bench/sidebyside/limit.py: the same graphs
in-process with `AsyncPostgresSaver` / `AsyncPostgresStore` on an embedded PostgreSQL. The competitors live in
throwaway virtualenvs outside the repository (see bench/README.md). The client shares the machine's cores with
the server: compare columns of one sitting, and read the load average row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sidebyside import workloads
from sidebyside.servers import BENCH, Server, prepare_workdir
from sidebyside.table import LIMIT, Results, render

REPO_ROOT = BENCH.parent
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432"
ORDER = ["aegra", "lgdev", "aegra011", LIMIT]


async def _attempt(results: Results, name: str, keys: tuple[str, ...], body: Callable[[], Awaitable[Any]]) -> None:
    """Run one workload and record its value(s) under `keys`, or the reason it failed."""
    try:
        value = await body()
    except Exception as error:  # noqa: BLE001 - recorded in the table
        print(f"  {name} {keys[0]}: n/a: {workloads.reason(error)}", flush=True)
        for key in keys:
            results.fail(name, key, workloads.reason(error))
        return
    values = value if isinstance(value, tuple) else (value,)
    for key, item in zip(keys, values, strict=True):
        results.put(name, key, item)
    print(f"  {name} {', '.join(keys)}: {', '.join(f'{item:.2f}' for item in values)}", flush=True)


async def _wait_thread(client: Any, results: Results, name: str, args: Any) -> float:
    try:
        return await workloads.runs_wait(client, "if_not_exists", args)
    except Exception as error:  # noqa: BLE001 - no if_not_exists: create the thread first (one more request)
        results.notes.setdefault(name, []).append(f"runs.wait on a thread = threads.create + runs.wait ({error})"[:120])
        return await workloads.runs_wait(client, "create", args)


async def measure_server(kind: str, results: Results, args: Any) -> None:
    results.put(kind, "load_start", os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        prepare_workdir(Path(tmp))
        server = Server(kind, Path(tmp), args)
        try:
            cold = await server.start()
            results.notes.setdefault(kind, []).append(f"health = GET {server.health}; first start {cold:.1f} s")
            await asyncio.sleep(args.settle)
            client = workloads.sdk_client(server.url, connections=64)
            plan: list[tuple[str, tuple[str, ...], Callable[[], Awaitable[Any]]]] = [
                ("threads", ("threads_create",), lambda: workloads.threads_create(client, args)),
                ("wait", ("wait_thread",), lambda: _wait_thread(client, results, kind, args)),
                ("wait", ("wait_stateless",), lambda: workloads.runs_wait(client, "stateless", args)),
                ("stream", ("stream_rate", "stream_ttft"), lambda: workloads.stream_tokens(client, args)),
                ("burst", ("burst_wall",), lambda: workloads.burst(client, args)),
                ("store", ("store_put", "store_get", "store_search"), lambda: workloads.store_ops(client, args)),
            ]
            try:
                for group, keys, body in plan:
                    if group not in args.skip:
                        await _attempt(results, kind, keys, body)
            finally:
                await client.http.client.aclose()
            results.put(kind, "rss", server.rss_mib())
            if kind in args.streams_on and "streams" not in args.skip:
                await _attempt(
                    results,
                    kind,
                    ("streams_done", "streams_first_p50"),
                    lambda: workloads.concurrent_streams(server.url, args),
                )
                results.notes[kind].append(f"RSS after the {args.streams} streams {server.rss_mib():.0f} MB")
            server.stop()
            if "startup" not in args.skip:
                await _attempt(results, kind, ("startup_warm",), lambda: server.start(graphs=False))
        finally:
            server.stop()
    results.put(kind, "load_end", os.getloadavg()[0])


async def measure_limit(results: Results, args: Any) -> None:
    results.put(LIMIT, "load_start", os.getloadavg()[0])
    command = [args.aegra_python, str(BENCH / "sidebyside" / "limit.py"), "--duration", str(args.duration)]
    command += ["--warmup", str(args.warmup), "--tokens", str(args.tokens), "--burst", str(args.burst)]
    command += ["--store-ops", str(args.store_ops), "--streams", str(args.streams)]
    command += ["--stream-repeat", str(args.stream_repeat)]
    print(f"measuring the in-process limit: {' '.join(command)}", flush=True)
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, cwd=REPO_ROOT)
    stdout, _ = await process.communicate()
    if process.returncode != 0:
        for key in ("wait_thread", "wait_stateless", "stream_rate", "burst_wall"):
            results.fail(LIMIT, key, f"limit.py exited with {process.returncode}")
    else:
        for key, value in json.loads(stdout.decode().strip().splitlines()[-1]).items():
            results.put(LIMIT, key, value)
    results.put(LIMIT, "load_end", os.getloadavg()[0])


async def run(args: argparse.Namespace) -> None:
    results = Results()
    for name in args.only:
        if name == LIMIT:
            await measure_limit(results, args)
        else:
            await measure_server(name, results, args)
    table = render(results, ORDER)
    print(
        f"\n{args.duration:g} s per throughput row after {args.warmup:g} s warm-up; {args.tokens} tokens, median of "
        f"{args.stream_repeat} streams; burst of {args.burst}; {args.store_ops} store ops per phase; "
        f"{args.streams} concurrent streams; LOG_LEVEL {args.log_level or 'default'}; {os.cpu_count()} CPUs\n",
        flush=True,
    )
    print(table, flush=True)
    if args.json:
        payload = {
            name: {key: {"value": cell.value, "na": cell.na} for key, cell in cells.items()}
            for name, cells in results.cells.items()
        }
        text = json.dumps({"results": payload, "notes": results.notes, "table": table}, indent=2)
        await asyncio.to_thread(Path(args.json).write_text, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(ORDER), help=f"comma list of {','.join(ORDER)} (default all)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per throughput row (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before each row (default 2)")
    parser.add_argument("--tokens", type=int, default=1000, help="tokens per streamed run (default 1000)")
    parser.add_argument("--stream-repeat", type=int, default=5, help="timed streams (default 5)")
    parser.add_argument("--burst", type=int, default=500, help="background runs in the burst (default 500)")
    parser.add_argument("--store-ops", type=int, default=1500, help="store operations per phase (default 1500)")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (default 1000)")
    parser.add_argument(
        "--streams-on", default="aegra,limit", help="targets that get the concurrent-streams row (default aegra)"
    )
    parser.add_argument(
        "--skip", default="", help="comma list of threads,wait,stream,burst,store,streams,startup (servers only)"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--log-level", default="", help="LOG_LEVEL for the servers (default: unset, their default)")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of idle after startup (default 3)")
    parser.add_argument("--log-dir", default=tempfile.gettempdir(), help="server logs go here (bench-KIND.log)")
    parser.add_argument("--aegra-python", default=str(REPO_ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--aegra-db", default="embedded", help="DATABASE_URL for aegra (default: embedded)")
    parser.add_argument("--aegra011-venv", default="/tmp/bench-aegra011")
    parser.add_argument("--aegra011-db", default=f"{LOCAL_PG}/bench_aegra011")
    parser.add_argument("--lgdev-venv", default="/tmp/bench-lgdev")
    parser.add_argument("--lgdev-jobs", type=int, default=10, help="langgraph dev --n-jobs-per-worker (default 10)")
    args = parser.parse_args()
    args.only = [name for name in args.only.split(",") if name]
    args.skip = {group for group in args.skip.split(",") if group}
    args.streams_on = {name for name in args.streams_on.split(",") if name}
    unknown = set(args.only) - set(ORDER)
    if unknown:
        raise SystemExit(f"unknown target(s) {sorted(unknown)}: use {','.join(ORDER)}")
    asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
