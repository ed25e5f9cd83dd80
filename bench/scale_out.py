"""Scale-out: 1, 2 and 3 Aegra processes of mixed roles on one PostgreSQL execute N background runs each exactly
once; then a worker is SIGKILLed in the middle of a second batch, and every run still ends `success`.

    .venv/bin/python bench/scale_out.py                                # 10,000 runs per configuration
    .venv/bin/python bench/scale_out.py --runs 2000 --processes 1,3    # quicker
    .venv/bin/python bench/scale_out.py --runs 1000 --rate 20          # a load the box keeps up with

The processes: 1 = `aegra serve` (API and workers); 2 = that and an `aegra worker`; 3 = those and an API-only
`aegra serve --no-workers`. Clients create the runs (each on a new thread, of the `count` graph of
tests/graphs/durable.py, which writes one store item per execution of its node) through every API process, then
the script counts executions per run in the database: not statuses, node executions. It reports the wall time,
runs/s and the server processes' CPU-seconds per 1,000 runs (utime + stime from /proc/<pid>/stat, before and after
the batch). Each configuration gets a database of its own on --database-url's server, dropped afterwards.

The kill phase (with the largest configuration): a second batch; once a third of it has ended, the worker process
is SIGKILLed. Its runs are reaped after their lease (RUN_LEASE_SECONDS below) and run again elsewhere; a run may
execute twice only if it was in flight on the killed worker, which the script checks and reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.durable.json"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LEASES = {"RUN_LEASE_SECONDS": "30", "RUN_HEARTBEAT_SECONDS": "5", "RUN_REAPER_SECONDS": "2"}
# The Kubernetes base's pool sizes (docs/deployment.md): three processes fit a stock max_connections of 100.
POOLS = {"SQLALCHEMY_POOL_SIZE": "5", "SQLALCHEMY_MAX_OVERFLOW": "5", "LANGGRAPH_MAX_POOL_SIZE": "10"}
STUCK_SECONDS = 1800  # no run may take longer than this to end
ROLES = (("serve",), ("worker",), ("serve", "--no-workers"))  # the first N of these, for N processes


@dataclass
class Process:
    role: tuple[str, ...]
    popen: subprocess.Popen[bytes]
    url: str | None  # None: a worker (no API)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fresh_database(server_url: str, name: str, *, log_mod: bool = False) -> Iterator[str]:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        if log_mod:  # for ClaimLog
            conn.execute(f"ALTER DATABASE \"{name}\" SET log_statement = 'mod'")
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start(role: tuple[str, ...], database_url: str, log: Path, *, jobs: int) -> Process:
    port = _free_port()
    args = [*role, "--config", str(CONFIG)]
    args += ["--health-port", str(port)] if role[0] == "worker" else ["--port", str(port)]
    env = os.environ | {
        "DATABASE_URL": database_url,
        "N_JOBS_PER_WORKER": str(jobs),
        "LOG_LEVEL": "WARNING",
        **LEASES,
        **POOLS,
    }
    handle = log.open("ab")
    popen = subprocess.Popen(
        [sys.executable, "-m", "aegra", *args], env=env, cwd=REPO_ROOT, stdout=handle, stderr=handle
    )
    url = None if role[0] == "worker" else f"http://127.0.0.1:{port}"
    probe = f"http://127.0.0.1:{port}/ok"
    deadline = time.monotonic() + 180
    while True:  # before any timing: wait for the process to answer its health check
        assert popen.poll() is None, f"{' '.join(role)} exited; see {log}"
        with contextlib.suppress(OSError):
            urllib.request.urlopen(probe, timeout=2).close()
            return Process(role, popen, url)
        assert time.monotonic() < deadline, f"{' '.join(role)} did not start; see {log}"
        time.sleep(0.2)


async def create_runs(
    clients: list[LangGraphClient], count: int, *, at_once: int, rate: float | None = None
) -> list[str]:
    """Create `count` runs, `at_once` requests in flight at most (and, with `rate`, no more than `rate` per
    second: a load the machine keeps up with, so CPU per run shows each process's own work, not contention)."""
    gate = asyncio.Semaphore(at_once)
    begin = time.monotonic()

    async def one(index: int) -> str:
        if rate is not None:
            await asyncio.sleep(max(0.0, begin + index / rate - time.monotonic()))
        async with gate:
            client = clients[index % len(clients)]
            thread_id = str(uuid.uuid4())
            for _ in range(5):
                try:
                    run = await client.runs.create(thread_id, "count", input={}, if_not_exists="create")
                    return str(run["run_id"])
                except httpx.TransportError:  # a connection dropped: the run may exist already (one per thread)
                    with contextlib.suppress(httpx.HTTPError):
                        if existing := await client.runs.list(thread_id):
                            return str(existing[0]["run_id"])
            raise RuntimeError(f"could not create a run on thread {thread_id}")

    return list(await asyncio.gather(*(one(index) for index in range(count))))


def ended(database_url: str, run_ids: list[str]) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM runs WHERE run_id = ANY(%s::uuid[]) AND status NOT IN ('pending', 'running')",
            (run_ids,),
        ).fetchone()
    return int(row[0]) if row else 0


async def wait_ended(database_url: str, run_ids: list[str], *, at_least: int) -> None:
    deadline = time.monotonic() + STUCK_SECONDS
    while ended(database_url, run_ids) < at_least:
        assert time.monotonic() < deadline, "runs stuck"
        await asyncio.sleep(0.5)


def check(database_url: str, run_ids: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Executions per run (from the store items the graph wrote) and runs per final status."""
    with psycopg.connect(database_url) as conn:
        executions = dict(
            conn.execute(
                "SELECT value->>'run_id', count(*) FROM store WHERE prefix = 'executions'"
                " AND value->>'run_id' = ANY(%s) GROUP BY 1",
                (run_ids,),
            ).fetchall()
        )
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM runs WHERE run_id = ANY(%s::uuid[]) GROUP BY 1", (run_ids,)
            ).fetchall()
        )
    return {key: int(value) for key, value in executions.items()}, {key: int(value) for key, value in statuses.items()}


def executed_by(database_url: str, run_ids: list[str], processes: list[Process]) -> list[int]:
    """How many of the runs each process executed (the graph's store items name the process, `pid`)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT value->>'pid', count(*) FROM store WHERE prefix = 'executions' AND value->>'run_id' = ANY(%s)"
            " GROUP BY 1",
            (run_ids,),
        ).fetchall()
    counts = {str(pid): int(count) for pid, count in rows}
    return [counts.get(str(process.popen.pid), 0) for process in processes]


class ClaimLog:
    """Counts the run claims sent to one database, from the PostgreSQL server's log (`--pg-log`): the database is
    set to `log_statement = 'mod'` (the claim is an UPDATE), and the log's lines read between two offsets. Each
    logged statement starts with a line `<time> [<pid>] <user>@<database> ...`, and the claim's text follows on the
    next line, after a tab (Debian's default `log_line_prefix`)."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database

    def offset(self) -> int:
        return self.path.stat().st_size

    def claims_since(self, offset: int) -> int:
        claims, ours, marker = 0, False, f"@{self.database} "
        with self.path.open("rb") as log:
            log.seek(offset)
            for raw in log:
                line = raw.decode(errors="replace")
                if line[:4].isdigit() and " [" in line[:40]:  # a new message's first line
                    ours = marker in line
                elif ours and line.startswith("\tWITH claimable AS MATERIALIZED"):  # a continuation line
                    claims += 1
        return claims


def transactions(database_url: str) -> int:
    """Transactions the database has seen so far (committed and rolled back, from `pg_stat_database`; backends
    report theirs within a second or so of going idle)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


async def batch(
    processes: list[Process],
    database_url: str,
    runs: int,
    *,
    clients: int,
    rate: float | None = None,
    claim_log: ClaimLog | None = None,
) -> dict[str, Any]:
    apis = [process.url for process in processes if process.url is not None]
    sdk = [get_client(url=apis[index % len(apis)], api_key=None) for index in range(clients)]
    cpu_before = [process.cpu_seconds() for process in processes]
    xacts_before = transactions(database_url)
    log_offset = claim_log.offset() if claim_log is not None else 0
    started = time.perf_counter()
    run_ids = await create_runs(sdk, runs, at_once=25 * clients, rate=rate)
    await wait_ended(database_url, run_ids, at_least=runs)
    wall = time.perf_counter() - started
    cpu_each = [process.cpu_seconds() - before for process, before in zip(processes, cpu_before, strict=True)]
    cpu = sum(cpu_each)
    await asyncio.sleep(2)  # the backends report their transaction counts once idle
    xacts = transactions(database_url) - xacts_before - 3  # this function's own three sessions
    claims = claim_log.claims_since(log_offset) if claim_log is not None else None
    executions, statuses = check(database_url, run_ids)
    once = sum(1 for run_id in run_ids if executions.get(run_id) == 1)
    odd = {run_id: executions.get(run_id, 0) for run_id in run_ids if executions.get(run_id) != 1}
    assert once == runs, f"{runs - once} runs did not execute exactly once: {odd} ({statuses})"
    assert statuses == {"success": runs}, statuses
    return {
        "wall": wall,
        "runs_per_s": runs / wall,
        "cpu_per_1000": cpu / runs * 1000,
        "cpu_each_per_1000": [each / runs * 1000 for each in cpu_each],
        "transactions_per_run": xacts / runs,
        "claims_per_run": None if claims is None else claims / runs,
        "executed_each": executed_by(database_url, run_ids, processes),
    }


async def idle_cpu(processes: list[Process], seconds: float) -> list[float]:
    """Each process's CPU-seconds per minute with nothing to do (its heartbeats, polls and sweepers)."""
    await asyncio.sleep(2)  # the warm-up's last endings settle
    before = [process.cpu_seconds() for process in processes]
    await asyncio.sleep(seconds)
    return [(process.cpu_seconds() - b) * 60 / seconds for process, b in zip(processes, before, strict=True)]


async def kill_phase(processes: list[Process], database_url: str, runs: int, *, clients: int) -> dict[str, int]:
    victim = next(process for process in processes if process.role == ("worker",))
    apis = [process.url for process in processes if process.url is not None]
    sdk = [get_client(url=apis[index % len(apis)], api_key=None) for index in range(clients)]
    run_ids = await create_runs(sdk, runs, at_once=25 * clients)
    await wait_ended(database_url, run_ids, at_least=runs // 3)
    victim.popen.send_signal(signal.SIGSTOP)  # frozen: it claims nothing between the snapshot and the kill
    with psycopg.connect(database_url) as conn:
        in_flight = {
            str(row[0])
            for row in conn.execute(
                "SELECT run_id FROM runs WHERE status = 'running' AND split_part(worker_id, ':', 2) = %s",
                (str(victim.popen.pid),),
            ).fetchall()
        }
    victim.popen.send_signal(signal.SIGKILL)
    victim.popen.wait()
    await wait_ended(database_url, run_ids, at_least=runs)
    executions, statuses = check(database_url, run_ids)
    twice = {run_id for run_id, count in executions.items() if count > 1}
    missing = [run_id for run_id in run_ids if run_id not in executions]
    assert statuses == {"success": runs}, statuses
    assert not missing, f"{len(missing)} runs never executed"
    assert twice <= in_flight, f"{len(twice - in_flight)} runs executed twice without being in flight on the victim"
    return {
        "in_flight_at_kill": len(in_flight),
        "executed_twice": len(twice),
        "max_executions": max(executions.values()),
    }


async def configuration(server_url: str, count: int, args: argparse.Namespace, *, kill: bool) -> None:
    name = f"{args.database_prefix}_{count}"
    with fresh_database(server_url, name, log_mod=args.pg_log is not None) as database_url:
        claim_log = None if args.pg_log is None else ClaimLog(Path(args.pg_log), name)
        log = Path(args.logs) / f"{name}.log"
        log.unlink(missing_ok=True)
        processes = [start(ROLES[0], database_url, log, jobs=args.jobs)]  # migrates the database first
        processes += [start(role, database_url, log, jobs=args.jobs) for role in ROLES[1:count]]
        try:
            await batch(processes, database_url, min(100, args.runs), clients=args.clients)  # warm-up, not reported
            if args.idle_seconds > 0:
                idle = await idle_cpu(processes, args.idle_seconds)
                each = ", ".join(f"{' '.join(p.role)} {cpu:.2f}" for p, cpu in zip(processes, idle, strict=True))
                print(f"{count} process(es) idle: CPU-s per minute by process: {each}", flush=True)
            result = await batch(
                processes, database_url, args.runs, clients=args.clients, rate=args.rate, claim_log=claim_log
            )
            roles = " + ".join(" ".join(process.role) for process in processes)
            print(
                f"{count} process(es) [{roles}]: {args.runs} runs exactly once, wall {result['wall']:.1f} s, "
                f"{result['runs_per_s']:.1f} runs/s, {result['cpu_per_1000']:.1f} server CPU-s per 1,000 runs",
                flush=True,
            )
            each = ", ".join(
                f"{' '.join(process.role)} {cpu:.1f} ({executed} executed)"
                for process, cpu, executed in zip(
                    processes, result["cpu_each_per_1000"], result["executed_each"], strict=True
                )
            )
            xacts = result["transactions_per_run"]
            claims = "" if result["claims_per_run"] is None else f", {result['claims_per_run']:.2f} claims per run"
            print(f"  CPU-s per 1,000 runs by process: {each}; {xacts:.1f} transactions per run{claims}", flush=True)
            if kill:
                kill_runs = args.runs if args.kill_runs is None else args.kill_runs
                killed = await kill_phase(processes, database_url, kill_runs, clients=args.clients)
                print(
                    f"  SIGKILL of the worker mid-batch: {kill_runs} runs all success, none lost; "
                    f"{killed['in_flight_at_kill']} in flight on it, {killed['executed_twice']} executed twice "
                    f"(all of them among those in flight; at most {killed['max_executions']} executions)",
                    flush=True,
                )
        finally:
            for process in processes:
                if process.popen.poll() is None:
                    process.popen.send_signal(signal.SIGTERM)
            for process in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.popen.wait(timeout=60)
                if process.popen.poll() is None:
                    process.popen.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--processes", default="1,2,3", help="comma-separated process counts, each 1 to 3")
    parser.add_argument(
        "--kill-runs", type=int, default=None, help="runs of the kill phase's batch (default: --runs; 0: no kill phase)"
    )
    parser.add_argument("--clients", type=int, default=4, help="SDK clients creating runs (spread over the APIs)")
    parser.add_argument(
        "--rate", type=float, default=None, help="runs created per second at most (default: as fast as possible)"
    )
    parser.add_argument("--jobs", type=int, default=20, help="N_JOBS_PER_WORKER of each executing process")
    parser.add_argument(
        "--idle-seconds", type=float, default=20, help="measure each process's idle CPU this long after the warm-up"
    )
    parser.add_argument("--logs", default="/tmp", help="folder for the servers' logs")
    parser.add_argument(
        "--database-prefix", default="aegra_bench_scale", help="each configuration's database: <prefix>_<processes>"
    )
    parser.add_argument(
        "--pg-log",
        help="the PostgreSQL server's log file (e.g. /var/log/postgresql/postgresql-15-main.log): also count the run "
        "claims sent per run (each configuration's database logs its data-modifying statements)",
    )
    args = parser.parse_args()
    # SIGTERM ends the script the way Ctrl-C does, so the `finally` blocks stop the servers it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    counts = list(dict.fromkeys(int(part) for part in args.processes.split(",")))  # in the order given
    assert all(1 <= count <= len(ROLES) for count in counts), "--processes takes counts from 1 to 3"
    print(f"scale-out: {args.runs} background runs of `count` per configuration, {os.cpu_count()} cores", flush=True)
    for count in counts:
        kill = count == max(counts) and count >= 2 and args.kill_runs != 0
        asyncio.run(configuration(args.database_url, count, args, kill=kill))


if __name__ == "__main__":
    main()
