"""Server CPU milliseconds, new database connections and SQL statements per operation: CPU moves less than
throughput with the machine's load (still +-20 % at a load average of 8 on 2 cores); connections opened and
statements executed per operation do not move.

Starts `aegra serve` (default settings, embedded PostgreSQL) like bench/compare.py, runs `--ops` operations of each
kind from `--concurrency` clients, and divides the CPU time the server process used (user + system, from
/proc/<pid>/stat; the database's processes not included) by the number of operations. With `--statements N`, it
then runs N more operations of the kind one at a time with the embedded PostgreSQL's `log_statement = 'all'` and
counts the statements the database executed per operation (both pools, `BEGIN`/`COMMIT` included; the workers'
background polls and heartbeats fall in the window too, so expect a fraction of a statement of noise):

    .venv/bin/python bench/cpu_per_op.py --ops 1000
    .venv/bin/python bench/cpu_per_op.py --ops 400 --only "runs.wait stateless,runs.wait new thread" --statements 40
    .venv/bin/python bench/cpu_per_op.py --ops 400 --only "runs.create background" --statements 40
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sidebyside import workloads
from sidebyside.servers import BENCH, Server, prepare_workdir

TICKS = os.sysconf("SC_CLK_TCK")
# A statement in PostgreSQL's log with `log_statement = 'all'` (simple protocol, or the extended one's execute).
LOGGED = re.compile(r"LOG:  (?:statement|execute [^:]*):\s*(?:/\*.*?\*/\s*)?\(?(\w+)")


async def admin(pgdata: Path, sql: str) -> Any:
    """Run `sql` on the embedded cluster (autocommit); the first column of its first row, if any."""
    import psycopg

    conninfo = {"host": str(pgdata), "user": "postgres", "dbname": "postgres", "autocommit": True}
    async with await psycopg.AsyncConnection.connect(**conninfo) as conn:
        cursor = await conn.execute(sql)
        row = await cursor.fetchone() if cursor.description else None
    return row[0] if row else None


async def sessions(pgdata: Path) -> int | None:
    """Connections PostgreSQL has accepted so far (`pg_stat_database.sessions`): each is a backend started."""
    if not await asyncio.to_thread(pgdata.is_dir):
        return None  # DATABASE_URL given: not our embedded cluster
    total = await admin(pgdata, "SELECT sum(sessions) FROM pg_stat_database")
    return int(total) if total is not None else None


async def count_statements(pgdata: Path, ops: int, operation: Callable[[int], Awaitable[Any]], *, keep: Path) -> str:
    """Statements per operation (by first keyword), `ops` operations one at a time under `log_statement = 'all'`;
    the log of the window is kept in `keep`."""
    log = pgdata / "log"
    await admin(pgdata, "ALTER SYSTEM SET log_statement = 'all'")
    await admin(pgdata, "SELECT pg_reload_conf()")
    await asyncio.sleep(0.5)  # the backends pick the setting up at their next command
    start = log.stat().st_size
    try:
        await workloads.run_ops(ops, 1, operation)
    finally:
        await admin(pgdata, "ALTER SYSTEM RESET log_statement")
        await admin(pgdata, "SELECT pg_reload_conf()")
    text = await asyncio.to_thread(logged_since, log, start, keep)
    kinds = collections.Counter(match.group(1).upper() for match in LOGGED.finditer(text))
    kinds -= collections.Counter({"ALTER": 1, "SELECT": 1})  # the RESET and its reload
    total = sum(kinds.values())
    detail = " ".join(f"{kind} {count / ops:.1f}" for kind, count in kinds.most_common())
    return f"{total / ops:5.1f} statements/op ({detail})"


def logged_since(log: Path, start: int, keep: Path) -> str:
    """What PostgreSQL logged past byte `start`, also written to `keep`."""
    with log.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    keep.write_text(text)
    return text


async def background(client: Any, echo: dict[str, Any]) -> None:
    """One background run on a new thread (`runs.create`), then its end awaited with `runs.join` (which follows
    the run's outcome, not its events)."""
    run = await client.runs.create(str(uuid.uuid4()), "echo", input=echo, if_not_exists="create")
    await client.runs.join(run["thread_id"], run["run_id"])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        prepare_workdir(Path(tmp))
        server = Server("aegra", Path(tmp), args)
        await server.start()
        client = workloads.sdk_client(server.url, connections=64)
        root = f"cpu-{uuid.uuid4().hex[:8]}"
        echo = {"messages": [{"role": "user", "content": "hi"}]}
        kinds: dict[str, Callable[[int], Awaitable[Any]]] = {
            "GET /ok": lambda i: client.http.get("/ok"),
            "threads.create": lambda i: client.threads.create(),
            "store put": lambda i: client.store.put_item([root, str(i % 20)], f"k{i}", {"n": i}),
            "store get": lambda i: client.store.get_item([root, str(i % 20)], f"k{i}"),
            "store search": lambda i: client.store.search_items([root, str(i % 20)], limit=10),
            "runs.wait stateless": lambda i: client.runs.wait(None, "echo", input=echo),
            "runs.wait new thread": lambda i: client.runs.wait(
                str(uuid.uuid4()), "echo", input=echo, if_not_exists="create"
            ),
            "runs.create background": lambda i: background(client, echo),
        }
        if args.only:
            kinds = {name: kinds[name] for name in args.only.split(",")}
        try:
            if server.process is None:
                raise RuntimeError("server not running")
            pid = server.process.pid
            pgdata = Path(tmp) / ".aegra" / "pgdata"
            for name, operation in kinds.items():
                ops = args.ops if not name.startswith("runs") else max(1, args.ops // 4)
                await workloads.run_ops(min(ops, 50), args.concurrency, operation)  # warm-up
                opened, before = await sessions(pgdata), cpu_seconds(pid)
                rate = await workloads.run_ops(ops, args.concurrency, operation)
                used, now_opened = cpu_seconds(pid) - before, await sessions(pgdata)
                new = f"{(now_opened - opened - 1) / ops:5.2f}" if opened is not None and now_opened else "  n/a"
                line = f"{name:<22} {1000 * used / ops:6.2f} CPU ms/op  {new} new DB connections/op"
                print(f"{line}   ({rate:6.0f} ops/s, {ops} ops)", flush=True)
                if args.statements and pgdata.is_dir():
                    keep = Path(args.log_dir) / f"statements-{name.replace(' ', '-').replace('/', '')}.log"
                    counted = await count_statements(pgdata, args.statements, operation, keep=keep)
                    print(f"{'':<22} {counted}  (log: {keep})", flush=True)
        finally:
            await client.http.client.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", default="", help="comma-separated kinds (default: all)")
    parser.add_argument("--statements", type=int, default=0, help="count statements over this many serial ops")
    parser.add_argument("--log-level", default="")
    parser.add_argument("--log-dir", default=tempfile.gettempdir())
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--aegra-python", default=str(BENCH.parent / ".venv" / "bin" / "python"))
    parser.add_argument("--aegra-db", default="embedded")
    asyncio.run(main(parser.parse_args()))
