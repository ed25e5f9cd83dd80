"""Where the time goes: `aegra serve` (default settings, embedded PostgreSQL) sampled by py-spy under each workload
of bench/compare.py, one workload at a time; prints the top frames and the time by package for each.

    /tmp/perf-tools/bin/pip install py-spy     # any py-spy binary; pass it with --py-spy
    .venv/bin/python bench/profile_server.py --py-spy /tmp/perf-tools/bin/py-spy --out /tmp/profiles

Raw collapsed stacks are kept in --out (one file per workload, for flame graphs: `flamegraph.pl` or speedscope).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sidebyside import workloads
from sidebyside.servers import BENCH, Server, prepare_workdir

ENTRY_POINTS = ("(aegra/cli.py)", "(aegra/__main__.py)")  # under every sample: not worth a line
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _parse(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip().rpartition(" ")
    return stack.split(";"), int(count)


def _name(frame: str) -> tuple[str, str]:
    """(function (file), package) of one collapsed-stack frame."""
    match = FRAME.match(frame)
    if match is None:
        return frame, "?"
    path = match["file"]  # py-spy names files from their package root: "asyncpg/connection.py"
    package = path.split("/")[0] if "/" in path else path.removesuffix(".py")
    return f"{match['function']} ({path})", package


def summarize(raw: Path, top: int) -> str:
    """Top frames by own samples, top frames of aegra's code by samples under them, and samples by package."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = _parse(line)
        total += count
        names = [_name(frame) for frame in stack]
        leaf, package = names[-1]
        own[leaf] += count
        packages[package] += count
        for name in {name for name, package in names if package == "aegra" and not name.endswith(ENTRY_POINTS)}:
            under[name] += count
    if not total:
        return "(no samples)"

    def table(counter: Counter[str]) -> str:
        return "\n".join(f"  {100 * n / total:5.1f} %  {name}" for name, n in counter.most_common(top))

    return (
        f"{total} samples\n by package (leaf frame):\n{table(packages)}\n top frames (own time):\n{table(own)}\n"
        f" aegra frames (time under them):\n{table(under)}"
    )


async def _profile(
    server: Server, name: str, body: Callable[[], Awaitable[Any]], args: argparse.Namespace
) -> tuple[str, str]:
    if server.process is None:
        raise RuntimeError("server not running")
    raw = Path(args.out) / f"{name}.txt"
    command = [args.py_spy, "record", "--pid", str(server.process.pid), "--format", "raw", "--output", str(raw)]
    command += ["--rate", "200", "--gil"]  # only samples holding the GIL (CPU, not waiting); paused per sample
    spy = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await asyncio.sleep(1.0)  # let py-spy attach
    try:
        await body()
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        await spy.wait()
    return name, summarize(raw, args.top) if raw.exists() else "(py-spy wrote nothing)"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        prepare_workdir(Path(tmp))
        server = Server("aegra", Path(tmp), args)
        await server.start()
        client = workloads.sdk_client(server.url, connections=64)
        plan: dict[str, Callable[[], Awaitable[Any]]] = {
            "threads_create": lambda: workloads.threads_create(client, args),
            "wait_thread": lambda: workloads.runs_wait(client, "if_not_exists", args),
            "wait_stateless": lambda: workloads.runs_wait(client, "stateless", args),
            "stream_tokens": lambda: workloads.stream_tokens(client, args),
            "burst": lambda: workloads.burst(client, args),
            "store_ops": lambda: workloads.store_ops(client, args),
            "concurrent_streams": lambda: workloads.concurrent_streams(server.url, args),
        }
        try:
            for name in args.only or plan:
                print(f"== {name}", *(await _profile(server, name, plan[name], args))[1:], sep="\n", flush=True)
        finally:
            await client.http.client.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--py-spy", default="py-spy")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "aegra-profiles"))
    parser.add_argument("--only", type=lambda text: [name for name in text.split(",") if name], default=[])
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--summarize", action="store_true", help="only summarize the raw files already in --out")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--stream-repeat", type=int, default=5)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--store-ops", type=int, default=1500)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--log-level", default="")
    parser.add_argument("--log-dir", default=tempfile.gettempdir())
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--aegra-python", default=str(BENCH.parent / ".venv" / "bin" / "python"))
    parser.add_argument("--aegra-db", default="embedded")
    options = parser.parse_args()
    if options.summarize:
        for raw in sorted(Path(options.out).glob("*.txt")):
            print(f"== {raw.stem}", summarize(raw, options.top), sep="\n")
    else:
        Path(options.out).mkdir(parents=True, exist_ok=True)
        asyncio.run(main(options))
