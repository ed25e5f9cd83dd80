"""Side-by-side benchmark of Agent Protocol servers through the official `langgraph_sdk` client.

Every target gets the same workloads, one target at a time, on the bench graphs in bench/graphs/
(`echo`, `tokens`, `sleeper`):

1. health requests/s: `GET /ok` (or `GET /health` where `/ok` is missing), N concurrent clients
2. `client.assistants.search(limit=10)` requests/s, N concurrent clients
3. `client.runs.wait` runs/s on `echo`: stateless, and on a new thread per run, M concurrent clients
4. a `tokens` run streamed with `stream_mode="messages-tuple"` (1,000 fake-model tokens): tokens/s from the
   request to the last token, and time to first token (median of several runs, stateless)
5. burst: 200 background runs (`runs.create`) of `sleeper` (asyncio.sleep 1 s) on 200 threads, then the time
   until every run is `success` (polled with `runs.get`)
6. RSS of the server's process tree after the workloads (`/proc/<pid>/status` VmRSS, children included)

Servers already running (pass `--pid` to get the memory row):

    .venv/bin/python bench/compare.py --target aegra=http://127.0.0.1:21026 --pid aegra=12345

Or let the script start each server in turn, measure it, and stop it (`--start`): `aegra` is this checkout's
`aegra serve`, `aegra011` is aegra-api 0.11 from PyPI run by uvicorn, `lgdev` is `langgraph dev` (in-memory).
The last two live in throwaway virtualenvs outside the repository (see bench/README.md for the setup):

    .venv/bin/python bench/compare.py --start aegra,aegra011,lgdev --rounds 2

Each cell shows one number per round ("a / b"). A workload a server cannot run is shown as "n/a" with the
reason. The client runs on the same machine as the server and competes for CPU: compare runs made on the
same machine, and look at the load average printed with each target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
GRAPHS = BENCH / "graphs"
HI = {"messages": [{"role": "user", "content": "hi"}]}
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432"


# ----------------------------------------------------------------------------------------------------- results


@dataclass
class Cell:
    """One measured value per round, or the reason it could not be measured."""

    values: list[float] = field(default_factory=list)
    fmt: str = "{:.0f}"
    na: str | None = None

    def text(self) -> str:
        if self.na is not None and not self.values:
            return f"n/a ({self.na})"
        return " / ".join(self.fmt.format(value) for value in self.values)


ROWS: list[tuple[str, str]] = [
    ("health", "1. health req/s (16 clients)"),
    ("search", "2. assistants.search req/s (16 clients)"),
    ("wait_stateless", "3a. runs.wait echo runs/s, stateless (8)"),
    ("wait_thread", "3b. runs.wait echo runs/s, on a thread (8)"),
    ("stream_rate", "4a. stream 1000 tokens: tokens/s"),
    ("stream_ttft", "4b. stream: time to first token ms"),
    ("burst_total", "5a. burst of N x sleep(1s): s to all success"),
    ("burst_create", "5b. burst: s to create the N runs"),
    ("rss_main", "6a. RSS server process MiB"),
    ("rss_tree", "6b. RSS process tree MiB"),
    ("load", "machine load avg 1m (start->end)"),
]


# ----------------------------------------------------------------------------------------------------- memory


def _children(pid: int) -> list[int]:
    """All descendants of `pid`, read from /proc/*/stat."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 10_000:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _vmrss_kib(pid: int) -> int:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_mib(pid: int) -> tuple[float, float, int]:
    """(RSS of `pid`, RSS summed over `pid` and its descendants, number of processes) in MiB."""
    tree = [pid, *_children(pid)]
    return _vmrss_kib(pid) / 1024, sum(_vmrss_kib(p) for p in tree) / 1024, len(tree)


# ----------------------------------------------------------------------------------------------------- workloads


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    if isinstance(error, httpx.HTTPStatusError):
        text = f"HTTP {error.response.status_code} {error.request.method} {error.request.url.path}"
    return f"{type(error).__name__}: {text}"[:90]


async def _for_duration(concurrency: int, duration: float, call: Callable[[], Awaitable[Any]]) -> float:
    """`concurrency` loops calling `call` back to back for `duration` seconds; returns completed calls/s."""
    done = 0
    errors: list[BaseException] = []

    async def loop(until: float) -> None:
        nonlocal done
        while time.perf_counter() < until and len(errors) < 20:
            try:
                await call()
            except Exception as error:  # noqa: BLE001 - counted, and the first one is reported
                errors.append(error)
                continue
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(started + duration) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if errors and done == 0:
        raise errors[0]
    if errors:
        print(f"    {len(errors)} failed calls, first: {_reason(errors[0])}", flush=True)
    return done / elapsed


async def health_path(client: LangGraphClient) -> str:
    """`/ok` where the server has it (langgraph-api, Aegra), else `/health` (aegra-api 0.11)."""
    for path in ("/ok", "/health"):
        response = await client.http.client.get(path)
        if response.is_success:
            return path
    raise RuntimeError("neither /ok nor /health answers 2xx")


async def requests_per_second(client: LangGraphClient, call: Callable[[], Awaitable[Any]], args: Any) -> float:
    await _for_duration(args.concurrency, args.warmup, call)
    return await _for_duration(args.concurrency, args.duration, call)


async def _wait_echo(client: LangGraphClient, thread_mode: str) -> None:
    if thread_mode == "stateless":
        thread_id = None
    elif thread_mode == "if_not_exists":
        thread_id = str(uuid.uuid4())
    else:  # "create": a threads.create call first, for servers without if_not_exists
        thread_id = (await client.threads.create())["thread_id"]
    kwargs = {"if_not_exists": "create"} if thread_mode == "if_not_exists" else {}
    output = await client.runs.wait(thread_id, "echo", input=HI, **kwargs)
    if not isinstance(output, dict) or output.get("messages", [{}])[-1].get("content") != "echo: hi":
        raise AssertionError(f"unexpected output {str(output)[:80]}")


async def runs_wait(client: LangGraphClient, thread_mode: str, args: Any) -> float:
    await _wait_echo(client, thread_mode)  # fails fast if the mode is not supported
    return await requests_per_second(
        client, lambda: _wait_echo(client, thread_mode), argparse.Namespace(**{**vars(args), "concurrency": 8})
    )


async def _stream_once(client: LangGraphClient, tokens: int) -> tuple[int, float, float]:
    started = time.perf_counter()
    first = 0.0
    count = 0
    async for part in client.runs.stream(None, "tokens", input={**HI, "tokens": tokens}, stream_mode="messages-tuple"):
        if part.event == "messages" and isinstance(part.data, list) and part.data and part.data[0].get("content"):
            if part.data[0].get("type") not in (None, "AIMessageChunk", "ai"):
                continue
            count += 1
            if not first:
                first = time.perf_counter() - started
        elif part.event == "error":
            raise RuntimeError(f"error event: {str(part.data)[:80]}")
    return count, time.perf_counter() - started, first


async def stream_tokens(client: LangGraphClient, args: Any) -> tuple[float, float]:
    """Median tokens/s (request to last token) and median time to first token, in ms."""
    await _stream_once(client, args.tokens)
    samples = [await _stream_once(client, args.tokens) for _ in range(args.stream_repeat)]
    counts = {count for count, _, _ in samples}
    if counts != {args.tokens}:
        raise AssertionError(f"expected {args.tokens} token events, got {sorted(counts)}")
    return (
        statistics.median(count / seconds for count, seconds, _ in samples),
        statistics.median(first for _, _, first in samples) * 1000,
    )


async def _bounded(limit: int, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


async def burst(client: LangGraphClient, args: Any) -> tuple[float, float]:
    """(seconds until all `args.burst` runs are `success`, seconds to create them), both from the first create."""
    threads = await _bounded(16, [client.threads.create for _ in range(args.burst)])
    started = time.perf_counter()
    runs = await _bounded(
        32,
        [
            lambda thread=thread: client.runs.create(
                thread["thread_id"], "sleeper", input={"messages": [], "seconds": 1.0}
            )
            for thread in threads
        ],
    )
    created = time.perf_counter() - started
    pending = {run["run_id"]: run["thread_id"] for run in runs}
    deadline = started + args.burst_timeout
    while pending and time.perf_counter() < deadline:
        states = await _bounded(16, [lambda r=r, t=t: client.runs.get(t, r) for r, t in pending.items()])
        for run in states:
            if run["status"] == "success":
                del pending[run["run_id"]]
            elif run["status"] not in ("pending", "running"):
                raise RuntimeError(f"run ended {run['status']}")
        if pending:
            await asyncio.sleep(0.2)
    if pending:
        raise TimeoutError(f"{len(pending)} runs not done after {args.burst_timeout:g}s")
    return time.perf_counter() - started, created


# ----------------------------------------------------------------------------------------------------- one target


async def measure_target(name: str, url: str, pid: int | None, args: Any) -> dict[str, Cell]:
    cells = {key: Cell() for key, _ in ROWS}
    cells["stream_ttft"].fmt = "{:.1f}"
    for key in ("burst_total", "burst_create"):
        cells[key].fmt = "{:.2f}"
    load_start = os.getloadavg()[0]
    client = get_client(url=url, api_key=None, timeout=httpx.Timeout(120.0))
    try:
        path = await health_path(client)
        ROW_NOTES.setdefault(name, []).append(f"health = GET {path}")
        wait_modes = {"wait_stateless": "stateless", "wait_thread": "if_not_exists"}

        async def attempt(key: str, body: Callable[[], Awaitable[Any]]) -> Any:
            if key in args.skip:
                cells[key].na = "skipped"
                return None
            if cells[key].na is not None and not cells[key].values:
                return None  # failed in an earlier round: do not retry
            try:
                return await body()
            except Exception as error:  # noqa: BLE001 - recorded in the table
                cells[key].na = _reason(error)
                print(f"  {name} {key}: n/a: {_reason(error)}", flush=True)
                return None

        for round_index in range(args.rounds):
            print(f"  {name} round {round_index + 1}/{args.rounds}, load {os.getloadavg()[0]:.2f}", flush=True)
            value = await attempt("health", lambda: requests_per_second(client, lambda: client.http.get(path), args))
            if value is not None:
                cells["health"].values.append(value)
            value = await attempt(
                "search", lambda: requests_per_second(client, lambda: client.assistants.search(limit=10), args)
            )
            if value is not None:
                cells["search"].values.append(value)
            for key, mode in wait_modes.items():
                value = await attempt(key, lambda mode=mode: runs_wait(client, mode, args))
                if value is None and key == "wait_thread" and mode == "if_not_exists" and cells[key].na != "skipped":
                    # no `if_not_exists`: create the thread first (one more request per run)
                    wait_modes[key] = "create"
                    ROW_NOTES.setdefault(name, []).append(f"3b uses threads.create + runs.wait ({cells[key].na})")
                    cells[key].na = None
                    value = await attempt(key, lambda: runs_wait(client, "create", args))
                if value is not None:
                    cells[key].values.append(value)
            value = await attempt("stream_rate", lambda: stream_tokens(client, args))
            if value is not None:
                cells["stream_rate"].values.append(value[0])
                cells["stream_ttft"].values.append(value[1])
            elif cells["stream_rate"].na:
                cells["stream_ttft"].na = "see 4a"
            value = await attempt("burst_total", lambda: burst(client, args))
            if value is not None:
                cells["burst_total"].values.append(value[0])
                cells["burst_create"].values.append(value[1])
            elif cells["burst_total"].na:
                cells["burst_create"].na = "see 5a"
            if pid is not None:
                main, tree, count = rss_mib(pid)
                cells["rss_main"].values.append(main)
                cells["rss_tree"].values.append(tree)
                if round_index == 0:
                    ROW_NOTES.setdefault(name, []).append(f"process tree of pid {pid}: {count} processes")
        if pid is None:
            cells["rss_main"].na = cells["rss_tree"].na = "no --pid"
    finally:
        await client.http.client.aclose()
    cells["load"].values = [load_start, os.getloadavg()[0]]
    cells["load"].fmt = "{:.2f}"
    return cells


ROW_NOTES: dict[str, list[str]] = {}


def print_table(results: dict[str, dict[str, Cell]]) -> str:
    names = list(results)
    header = ["workload", *names]
    lines = [header, ["---"] * len(header)]
    for key, label in ROWS:
        lines.append([label, *(results[name][key].text() for name in names)])
    out = "\n".join("| " + " | ".join(row) + " |" for row in lines)
    for name, notes in ROW_NOTES.items():
        out += f"\n- {name}: " + "; ".join(notes)
    print(out, flush=True)
    return out


# ----------------------------------------------------------------------------------------------------- --start


def free_port() -> int:
    for port in range(21000 + os.getpid() % 4000, 30000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 21000-29999")


def server_command(kind: str, port: int, workdir: Path, args: Any) -> tuple[list[str], dict[str, str]]:
    """The command and environment that start server `kind` on `port`, serving the bench graphs in `workdir`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AEGRA_CONFIG", "PORT", "HOST")}
    env.update(LOG_LEVEL=args.log_level, LANGSMITH_TRACING="false", LANGCHAIN_TRACING_V2="false")
    if kind == "aegra":
        if args.aegra_db == "embedded":
            env["AEGRA_DATA_DIR"] = str(workdir / ".aegra")
        else:
            env["DATABASE_URL"] = args.aegra_db
        command = [args.aegra_python, "-m", "aegra", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return [*command, "-c", str(workdir / "aegra.json")], env
    if kind == "aegra011":
        env.update(DATABASE_URL=args.aegra011_db, AEGRA_CONFIG=str(workdir / "aegra.json"))
        python = str(Path(args.aegra011_venv) / "bin" / "python")
        return [python, "-m", "uvicorn", "aegra_api.main:app", "--host", "127.0.0.1", "--port", str(port)], env
    if kind == "lgdev":
        langgraph = str(Path(args.lgdev_venv) / "bin" / "langgraph")
        command = [langgraph, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--config", str(workdir / "langgraph.json"), "--server-log-level", args.log_level]
        if args.lgdev_jobs:  # `langgraph dev` runs ONE background run at a time unless told otherwise
            command += ["--n-jobs-per-worker", str(args.lgdev_jobs)]
        return command, env
    raise ValueError(f"unknown server {kind!r}: use aegra, aegra011 or lgdev")


async def wait_until_up(url: str, process: subprocess.Popen[bytes], startup_seconds: float) -> None:
    deadline = time.monotonic() + startup_seconds
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode} before answering")
            with suppress(httpx.HTTPError):
                for path in ("/ok", "/health"):
                    # wait for the graphs too: the assistants are registered at startup
                    if (await http.get(path)).is_success and (
                        await http.post("/assistants/search", json={"limit": 10})
                    ).is_success:
                        return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{url} not up after {startup_seconds:g}s")


async def start_and_measure(kind: str, args: Any) -> dict[str, Cell]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        workdir = Path(tmp)
        for name in ("graphs.py", "aegra.json", "langgraph.json"):
            shutil.copy(GRAPHS / name, workdir / name)
        command, env = server_command(kind, port, workdir, args)
        log = (Path(args.log_dir) / f"{kind}.log").open("wb")
        print(f"starting {kind}: {' '.join(command)} (log {log.name})", flush=True)
        process = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        try:
            await wait_until_up(url, process, args.startup_timeout)
            if args.settle:
                await asyncio.sleep(args.settle)
            return await measure_target(kind, url, process.pid, args)
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            log.close()


# ----------------------------------------------------------------------------------------------------- main


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep:
            raise SystemExit(f"{what} must be NAME=VALUE, got {value!r}")
        pairs[name] = rest
    return pairs


async def run(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, Cell]] = {}
    pids = {name: int(pid) for name, pid in _pairs(args.pid, "--pid").items()}
    for name, url in _pairs(args.target, "--target").items():
        print(f"measuring {name} at {url}", flush=True)
        results[name] = await measure_target(name, url, pids.get(name), args)
    for kind in [kind for kind in args.start.split(",") if kind]:
        results[kind] = await start_and_measure(kind, args)
    if not results:
        raise SystemExit("nothing to measure: give --target NAME=URL or --start aegra,aegra011,lgdev")
    print(
        f"\n{args.rounds} round(s); {args.duration:g}s per throughput row after {args.warmup:g}s warm-up; "
        f"{args.tokens} tokens, median of {args.stream_repeat} streams; burst of {args.burst}; "
        f"log level {args.log_level}; {os.cpu_count()} CPUs\n",
        flush=True,
    )
    table = print_table(results)
    if args.json:
        payload = {
            name: {key: {"values": cell.values, "na": cell.na} for key, cell in cells.items()}
            for name, cells in results.items()
        }
        text = json.dumps({"results": payload, "notes": ROW_NOTES, "table": table}, indent=2)
        await asyncio.to_thread(Path(args.json).write_text, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", action="append", default=[], help="NAME=URL of a running server (repeatable)")
    parser.add_argument("--pid", action="append", default=[], help="NAME=PID of a --target's server, for RSS")
    parser.add_argument("--start", default="", help="comma list of servers to start in turn: aegra,aegra011,lgdev")
    parser.add_argument("--rounds", type=int, default=2, help="times each workload runs (default 2)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per throughput row (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before each row (default 2)")
    parser.add_argument("--concurrency", type=int, default=16, help="clients for rows 1-2 (default 16)")
    parser.add_argument("--tokens", type=int, default=1000, help="tokens per streamed run (default 1000)")
    parser.add_argument("--stream-repeat", type=int, default=5, help="timed streams per round (default 5)")
    parser.add_argument("--burst", type=int, default=200, help="background runs in the burst (default 200)")
    parser.add_argument("--burst-timeout", type=float, default=180.0, help="give up on the burst after (s)")
    parser.add_argument("--skip", default="", help="comma list of row keys to skip, e.g. burst_total")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL for started servers (default WARNING)")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of idle after startup (default 3)")
    parser.add_argument("--log-dir", default=tempfile.gettempdir(), help="server logs of --start go here")
    parser.add_argument("--aegra-python", default=str(REPO_ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--aegra-db", default=f"{LOCAL_PG}/bench_aegra", help="DATABASE_URL for aegra, or 'embedded'")
    parser.add_argument("--aegra011-venv", default="/tmp/bench-aegra011")
    parser.add_argument("--aegra011-db", default=f"{LOCAL_PG}/bench_aegra011")
    parser.add_argument("--lgdev-venv", default="/tmp/bench-lgdev")
    parser.add_argument(
        "--lgdev-jobs",
        type=int,
        default=10,
        help="langgraph dev --n-jobs-per-worker (default 10, as both Aegras; 0 keeps langgraph dev's own default, 1)",
    )
    args = parser.parse_args()
    args.skip = {key for key in args.skip.split(",") if key}
    asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
