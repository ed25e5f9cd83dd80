"""Server CPU milliseconds and new database connections per operation: CPU moves less than throughput with the
machine's load (still +-20 % at a load average of 8 on 2 cores); connections opened per operation do not move.

Starts `aegra serve` (default settings, embedded PostgreSQL) like bench/compare.py, runs `--ops` operations of each
kind from `--concurrency` clients, and divides the CPU time the server process used (user + system, from
/proc/<pid>/stat; the database's processes not included) by the number of operations:

    .venv/bin/python bench/cpu_per_op.py --ops 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sidebyside import workloads
from sidebyside.servers import BENCH, Server, prepare_workdir

TICKS = os.sysconf("SC_CLK_TCK")


async def sessions(pgdata: Path) -> int | None:
    """Connections PostgreSQL has accepted so far (`pg_stat_database.sessions`): each is a backend started."""
    if not await asyncio.to_thread(pgdata.is_dir):
        return None  # DATABASE_URL given: not our embedded cluster
    import psycopg

    async with await psycopg.AsyncConnection.connect(host=str(pgdata), user="postgres", dbname="postgres") as conn:
        row = await (await conn.execute("SELECT sum(sessions) FROM pg_stat_database")).fetchone()
    return int(row[0]) if row and row[0] is not None else None


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
        }
        try:
            if server.process is None:
                raise RuntimeError("server not running")
            pid = server.process.pid
            for name, operation in kinds.items():
                ops = args.ops if not name.startswith("runs") else max(1, args.ops // 4)
                await workloads.run_ops(min(ops, 50), args.concurrency, operation)  # warm-up
                pgdata = Path(tmp) / ".aegra" / "pgdata"
                opened, before = await sessions(pgdata), cpu_seconds(pid)
                rate = await workloads.run_ops(ops, args.concurrency, operation)
                used, now_opened = cpu_seconds(pid) - before, await sessions(pgdata)
                new = f"{(now_opened - opened - 1) / ops:5.2f}" if opened is not None and now_opened else "  n/a"
                line = f"{name:<22} {1000 * used / ops:6.2f} CPU ms/op  {new} new DB connections/op"
                print(f"{line}   ({rate:6.0f} ops/s, {ops} ops)", flush=True)
        finally:
            await client.http.client.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--log-level", default="")
    parser.add_argument("--log-dir", default=tempfile.gettempdir())
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--aegra-python", default=str(BENCH.parent / ".venv" / "bin" / "python"))
    parser.add_argument("--aegra-db", default="embedded")
    asyncio.run(main(parser.parse_args()))
