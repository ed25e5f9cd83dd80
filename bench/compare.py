"""Side by side, in one sitting: Aegra, `langgraph dev`, aegra-api 0.11 and the in-process limit (issue 18).

One command starts every server at once as a user would (default settings: `aegra serve` on its embedded
PostgreSQL, default LOG_LEVEL; each on its own port and database) and the in-process limit
(bench/sidebyside/limit.py: the same graphs in-process with `AsyncPostgresSaver` / `AsyncPostgresStore` on an
embedded PostgreSQL), then runs each workload on every target back to back (the order rotating from workload to
workload and round to round), so a change in the shared machine's load hits all columns alike. With `--rounds N`
the whole set of workloads runs N times and each cell is the median. Then it stops everything and times warm
startups one server at a time (alternating), and prints one table with the ratios ours / best peer and ours /
limit, and the 1-minute load average seen during each row:

    .venv/bin/python bench/compare.py                       # aegra, lgdev, aegra011 and the limit
    .venv/bin/python bench/compare.py --rounds 3            # three alternating rounds, medians
    .venv/bin/python bench/compare.py --only aegra,limit    # a subset (the ratio columns use what was measured)

Workloads: threads.create (32 clients); runs.wait of `echo` on a new thread each and stateless (16 clients);
a 1,000-token `messages-tuple` stream of `tokens` (tokens/s and first token, median of 5); 500 background runs
of `sleeper` (1 s) on 500 threads, wall time to the last end; store put / get / search (16 clients); server RSS
(process tree, database not counted) after each round; 1,000 concurrent stateless streams of 200 tokens (after
the rounds: time until all are done, median time to the first event); warm startup to `/ok` (`/health` on
aegra-api 0.11). The competitors live in throwaway virtualenvs outside the repository (see bench/README.md).
The client shares the machine's cores with the servers, and the idle servers stay up while one is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sidebyside import workloads
from sidebyside.servers import ensure_database
from sidebyside.table import LIMIT, Results, render
from sidebyside.targets import REPO_ROOT, STARTUP, STREAMS, WORKLOADS, LimitTarget, ServerTarget, Target, Workload

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432"
ORDER = ["aegra", "lgdev", "aegra011", LIMIT]
T = TypeVar("T")


def rotated(items: list[T], shift: int) -> list[T]:
    """`items` starting at index `shift` (mod its length), so each target takes its turn at going first."""
    if not items:
        return items
    shift %= len(items)
    return items[shift:] + items[:shift]


async def measure(results: Results, target: Target, workload: Workload, label: str) -> None:
    """Run one workload on one target; record its value(s), or the reason it failed, and the load around it."""
    load = os.getloadavg()[0]
    results.put(target.name, "load", load)
    results.load(workload.keys[0], load)
    try:
        values = await target.measure(workload)
    except Exception as error:  # noqa: BLE001 - recorded in the table
        print(f"  {label} {target.name} {workload.name}: n/a: {workloads.reason(error)}", flush=True)
        for key in workload.keys:
            results.fail(target.name, key, workloads.reason(error))
        return
    finally:
        results.load(workload.keys[0], os.getloadavg()[0])
    for key, value in zip(workload.keys, values, strict=True):
        results.put(target.name, key, value)
    shown = ", ".join(f"{key} {value:.2f}" for key, value in zip(workload.keys, values, strict=True))
    print(f"  {label} {target.name}: {shown} (load {load:.2f})", flush=True)


async def start_all(targets: list[Target], results: Results, args: Any) -> list[Target]:
    """Start every target at once; the ones that came up (the others' cells say why they did not)."""
    if any(target.name == "aegra011" for target in targets) and await asyncio.to_thread(
        ensure_database, args.aegra011_db
    ):
        results.note("aegra011", f"created {args.aegra011_db}")
    outcomes = await asyncio.gather(*(target.start() for target in targets), return_exceptions=True)
    up = []
    for target, outcome in zip(targets, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome
            print(f"  {target.name} did not start: {workloads.reason(outcome)}", flush=True)
            for workload in (*WORKLOADS, STREAMS):
                for key in workload.keys:
                    results.fail(target.name, key, f"did not start: {workloads.reason(outcome)}")
            continue
        health = f"health = GET {target.server.health}; " if isinstance(target, ServerTarget) else ""
        results.note(target.name, f"{health}first start {outcome:.1f} s")
        up.append(target)
    await asyncio.sleep(args.settle)
    return up


async def one_round(targets: list[Target], number: int, results: Results, args: Any) -> None:
    """Every workload on every target that has it, back to back; then the servers' RSS."""
    label = f"round {number + 1}/{args.rounds}"
    print(f"{label}, load {os.getloadavg()[0]:.2f}", flush=True)
    for index, workload in enumerate(WORKLOADS):
        if workload.group in args.skip:
            continue
        for target in rotated([t for t in targets if t.supports(workload)], number + index):
            await measure(results, target, workload, f"{label} {workload.name}:")
    for target in targets:
        if isinstance(target, ServerTarget):
            results.put(target.name, "rss", target.rss_mib())


async def concurrent_streams(targets: list[Target], results: Results, args: Any) -> None:
    """The 1,000 concurrent streams, after the rounds (and their RSS readings), on the `--streams-on` targets."""
    chosen = [target for target in targets if target.name in args.streams_on]
    if "streams" in args.skip or not chosen:
        return
    for number in range(args.rounds):
        for target in rotated(chosen, number):
            await measure(results, target, STREAMS, f"streams {number + 1}/{args.rounds}:")
    for target in chosen:
        if isinstance(target, ServerTarget):
            results.note(target.name, f"RSS after the {args.streams} streams {target.rss_mib():.0f} MB")


async def warm_startups(servers: list[ServerTarget], results: Results, args: Any) -> None:
    """With everything stopped, start one server at a time in its folder again (alternating over the rounds)."""
    if "startup" in args.skip:
        return
    for number in range(args.rounds):
        for server in rotated(servers, number):
            await measure(results, server, STARTUP, f"startup {number + 1}/{args.rounds}:")


@contextmanager
def shielded_cleanup() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while the servers are being stopped (a second one would leave them running)."""

    def wait(signum: int, frame: object) -> None:
        print("stopping the servers, wait a moment", file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, wait) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def stop_all(targets: list[Target]) -> None:
    with shielded_cleanup():
        await asyncio.gather(*(target.stop() for target in targets), return_exceptions=True)


async def sitting(targets: list[Target], results: Results, args: Any) -> None:
    up = await start_all(targets, results, args)
    for number in range(args.rounds):
        await one_round(up, number, results, args)
    await concurrent_streams(up, results, args)
    await stop_all(targets)
    await warm_startups([target for target in up if isinstance(target, ServerTarget)], results, args)


async def run(args: argparse.Namespace) -> None:
    # SIGTERM cancels the sitting like Ctrl-C does, so the `finally` below stops what it started.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    results = Results()
    targets: list[Target] = [LimitTarget(args) if name == LIMIT else ServerTarget(name, args) for name in args.only]
    try:
        await sitting(targets, results, args)
    finally:
        await stop_all(targets)
        for target in targets:
            target.cleanup()
            for note in target.notes:
                results.note(target.name, note)
    report(results, args)


def report(results: Results, args: argparse.Namespace) -> None:
    table = render(results, ORDER)
    print(
        f"\n{args.rounds} round(s), median per cell; {args.duration:g} s per throughput row after {args.warmup:g} s "
        f"warm-up; {args.tokens} tokens, median of {args.stream_repeat} streams; burst of {args.burst}; "
        f"{args.store_ops} store ops per phase; {args.streams} concurrent streams; LOG_LEVEL "
        f"{args.log_level or 'default'}; {os.cpu_count()} CPUs\n",
        flush=True,
    )
    print(table, flush=True)
    if args.json:
        payload = {
            name: {
                key: {"value": cell.value, "samples": cell.samples, "na": cell.failures} for key, cell in cells.items()
            }
            for name, cells in results.cells.items()
        }
        document = {"results": payload, "loads": results.loads, "notes": results.notes, "table": table}
        Path(args.json).write_text(json.dumps(document, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(ORDER), help=f"comma list of {','.join(ORDER)} (default all)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds, median per cell (default 1)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per throughput row (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before each row (default 2)")
    parser.add_argument("--tokens", type=int, default=1000, help="tokens per streamed run (default 1000)")
    parser.add_argument("--stream-repeat", type=int, default=5, help="timed streams (default 5)")
    parser.add_argument("--burst", type=int, default=500, help="background runs in the burst (default 500)")
    parser.add_argument("--store-ops", type=int, default=1500, help="store operations per phase (default 1500)")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (default 1000)")
    parser.add_argument(
        "--streams-on", default="aegra,limit", help="targets that get the concurrent-streams row (default aegra,limit)"
    )
    parser.add_argument("--skip", default="", help="comma list of threads,wait,stream,burst,store,streams,startup")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--log-level", default="", help="LOG_LEVEL for the servers (default: unset, their default)")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of idle after startup (default 3)")
    parser.add_argument("--log-dir", default=tempfile.gettempdir(), help="server logs go here (bench-KIND.log)")
    parser.add_argument("--aegra-python", default=str(REPO_ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--aegra-db", default="embedded", help="DATABASE_URL for aegra (default: embedded)")
    parser.add_argument("--aegra011-venv", default="/tmp/bench-aegra011")
    parser.add_argument("--aegra011-db", default=f"{LOCAL_PG}/bench_aegra011", help="created if missing")
    parser.add_argument("--lgdev-venv", default="/tmp/bench-lgdev")
    parser.add_argument("--lgdev-jobs", type=int, default=10, help="langgraph dev --n-jobs-per-worker (default 10)")
    args = parser.parse_args()
    args.only = [name for name in args.only.split(",") if name]
    args.skip = {group for group in args.skip.split(",") if group}
    args.streams_on = {name for name in args.streams_on.split(",") if name}
    unknown = set(args.only) - set(ORDER)
    if unknown:
        raise SystemExit(f"unknown target(s) {sorted(unknown)}: use {','.join(ORDER)}")
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    try:
        asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise SystemExit("interrupted: every server the harness started is stopped") from None


if __name__ == "__main__":
    main()
