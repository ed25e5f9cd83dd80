"""Many concurrent streams against one running Aegra server (the `compare.py` row "1,000 concurrent streams"), with
the first-byte spread and, given the server's pid, the server CPU-seconds spent by the time each stream got its
first byte: on a shared box that moves far less with the machine's load than wall time does.

    .venv/bin/aegra serve --port 2026 -c bench/graphs/aegra.json & SERVER=$!
    .venv/bin/python bench/concurrent_streams.py --url http://127.0.0.1:2026 --streams 1000 --pid $SERVER

Each stream is a stateless `tokens` run (`--tokens`, default 200) with `stream_mode="messages-tuple"`, all opened
at once through the SDK on one unpooled connection set; every stream must deliver all its tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

from sidebyside.workloads import HI, sdk_client  # bench/ is on sys.path when run


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(url: str, streams: int, tokens: int, pid: int | None) -> None:
    client = sdk_client(url, connections=None, timeout=600.0)
    firsts: list[float] = []
    cpu_at_first: list[float] = []
    cpu_start = cpu_seconds(pid) if pid is not None else 0.0

    async def one() -> None:
        started = time.perf_counter()
        count = 0
        first = True
        async for part in client.runs.stream(
            None, "tokens", input={**HI, "tokens": tokens}, stream_mode="messages-tuple"
        ):
            if first:  # the run's `metadata`
                first = False
                firsts.append(time.perf_counter() - started)
                if pid is not None:
                    cpu_at_first.append(cpu_seconds(pid) - cpu_start)
            if part.event == "error":
                raise RuntimeError(f"error event: {str(part.data)[:80]}")
            elif part.event == "messages" and isinstance(part.data, list) and part.data:
                count += 1 if part.data[0].get("content") else 0
        if count != tokens:
            raise AssertionError(f"a stream ended after {count} of {tokens} tokens")

    try:
        began = time.perf_counter()
        outcomes = await asyncio.gather(*(one() for _ in range(streams)), return_exceptions=True)
        done = time.perf_counter() - began
    finally:
        await client.http.client.aclose()
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise SystemExit(f"{len(errors)} of {streams} streams failed, first: {errors[0]!r}")
    print(
        f"{streams} streams of {tokens} tokens: all done {done:.2f} s; first byte p10 {percentile(firsts, 0.1):.2f} "
        f"· p50 {statistics.median(firsts):.2f} · p90 {percentile(firsts, 0.9):.2f} s; load {os.getloadavg()[0]:.2f}"
    )
    if pid is not None:
        print(
            f"server CPU-s at the median first byte {statistics.median(cpu_at_first):.2f}; "
            f"in all {cpu_seconds(pid) - cpu_start:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="a running server that serves bench/graphs/aegra.json")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (default 1000)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per stream (default 200)")
    parser.add_argument("--pid", type=int, help="the server's pid: also report its CPU-seconds (Linux /proc)")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.streams, args.tokens, args.pid))


if __name__ == "__main__":
    main()
