"""HTTP throughput of a running Aegra server: requests per second of `GET /ok` and `POST /assistants/search`
with N concurrent httpx clients, each sending its next request as soon as the previous one is answered.

    .venv/bin/aegra serve --port 2026 &                       # in one shell (embedded PostgreSQL is fine)
    .venv/bin/python bench/http_rps.py --url http://127.0.0.1:2026 --concurrency 16 --duration 10

Prints, per endpoint: requests completed, requests/s, latency p50/p95/p99 (milliseconds) and non-2xx or
failed requests. The client runs in one process with one event loop; on a small machine it competes with
the server for CPU, so read the numbers as a floor, and compare runs made on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

Request = Callable[[httpx.AsyncClient], Coroutine[Any, Any, httpx.Response]]

ENDPOINTS: dict[str, Request] = {
    "GET /ok": lambda http: http.get("/ok"),
    "POST /assistants/search": lambda http: http.post("/assistants/search", json={"limit": 10}),
}


@dataclass
class Tally:
    """What the clients of one endpoint measured."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0


async def _client_loop(url: str, request: Request, deadline: float, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await request(http)
            except httpx.HTTPError:
                tally.failures += 1
                continue
            if response.is_success:
                tally.latencies.append(time.perf_counter() - started)
            else:
                tally.failures += 1


async def measure(url: str, request: Request, *, concurrency: int, duration: float, warmup: float) -> Tally:
    """Run `concurrency` clients for `warmup` seconds (discarded), then for `duration` seconds."""
    if warmup > 0:
        discarded = Tally()
        end = time.perf_counter() + warmup
        await asyncio.gather(*(_client_loop(url, request, end, discarded) for _ in range(concurrency)))
    tally = Tally()
    end = time.perf_counter() + duration
    await asyncio.gather(*(_client_loop(url, request, end, tally) for _ in range(concurrency)))
    return tally


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def report(name: str, tally: Tally, duration: float) -> str:
    """One line of results for an endpoint."""
    latencies = sorted(tally.latencies)
    done = len(latencies)
    p50, p95, p99 = (_percentile(latencies, q) * 1000 for q in (0.50, 0.95, 0.99))
    mean = statistics.fmean(latencies) * 1000 if latencies else float("nan")
    return (
        f"{name:<26} {done:>8} req {done / duration:>9.1f} req/s   "
        f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  mean {mean:6.1f} ms  failed {tally.failures}"
    )


async def main(arguments: argparse.Namespace) -> None:
    """Check the server answers, then measure each endpoint in turn."""
    async with httpx.AsyncClient(base_url=arguments.url, timeout=10.0) as http:
        (await http.get("/ok")).raise_for_status()
    print(
        f"{arguments.url}: {arguments.concurrency} concurrent clients, "
        f"{arguments.duration:g}s per endpoint after {arguments.warmup:g}s warm-up"
    )
    for name, request in ENDPOINTS.items():
        tally = await measure(
            arguments.url,
            request,
            concurrency=arguments.concurrency,
            duration=arguments.duration,
            warmup=arguments.warmup,
        )
        print(report(name, tally, arguments.duration))


def parse_arguments() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:2026", help="base URL of a running Aegra server")
    parser.add_argument("--concurrency", "-n", type=int, default=16, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of discarded warm-up per endpoint")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
