"""Start each server as a user would (default settings), time its warm startup, read its memory, stop it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent.parent
GRAPHS = BENCH / "graphs"
DATABASE_PROCESSES = ("postgres", "pg_ctl", "initdb")
# The harness's own settings for every server: no tracing to LangSmith. Everything else stays at its default.
SCRUBBED = ("DATABASE_URL", "AEGRA_CONFIG", "PORT", "HOST", "LOG_LEVEL", "N_JOBS_PER_WORKER", "AEGRA_DATA_DIR")


def free_port() -> int:
    for port in range(21000 + os.getpid() % 4000, 30000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 21000-29999")


def prepare_workdir(workdir: Path) -> None:
    for name in ("graphs.py", "aegra.json", "langgraph.json"):
        shutil.copy(GRAPHS / name, workdir / name)


def command_for(kind: str, port: int, workdir: Path, args: Any) -> tuple[list[str], dict[str, str]]:
    """The command and environment that start server `kind` on `port`, serving the bench graphs in `workdir`."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(LANGSMITH_TRACING="false", LANGCHAIN_TRACING_V2="false")
    if args.log_level:
        env["LOG_LEVEL"] = args.log_level
    if kind == "aegra":
        if args.aegra_db != "embedded":
            env["DATABASE_URL"] = args.aegra_db
        # no DATABASE_URL: the embedded PostgreSQL under ./.aegra (the temporary folder), as `aegra serve` does
        command = [args.aegra_python, "-m", "aegra", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return [*command, "-c", str(workdir / "aegra.json")], env
    if kind == "aegra011":  # needs a PostgreSQL of its own; migrates at startup
        env.update(DATABASE_URL=args.aegra011_db, AEGRA_CONFIG=str(workdir / "aegra.json"))
        python = str(Path(args.aegra011_venv) / "bin" / "python")
        return [python, "-m", "uvicorn", "aegra_api.main:app", "--host", "127.0.0.1", "--port", str(port)], env
    if kind == "lgdev":
        langgraph = str(Path(args.lgdev_venv) / "bin" / "langgraph")
        command = [langgraph, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--config", str(workdir / "langgraph.json")]
        if args.lgdev_jobs:  # `langgraph dev` runs ONE background run at a time unless told otherwise
            command += ["--n-jobs-per-worker", str(args.lgdev_jobs)]
        return command, env
    raise ValueError(f"unknown server {kind!r}: use aegra, aegra011 or lgdev")


async def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float, *, graphs: bool) -> str:
    """Poll until `/ok` (or `/health`) answers 2xx (and, with `graphs`, the assistants are registered)."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode} before answering")
            for path in ("/ok", "/health"):
                with suppress(httpx.HTTPError):
                    if not (await http.get(path)).is_success:
                        continue
                    if not graphs or (await http.post("/assistants/search", json={"limit": 10})).is_success:
                        return path
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} not up after {seconds:g}s")


class Server:
    """One server process started in `workdir` (kept between starts, so the second start is a warm one)."""

    def __init__(self, kind: str, workdir: Path, args: Any) -> None:
        self.kind = kind
        self.workdir = workdir
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.health = "/ok"

    async def start(self, *, graphs: bool = True) -> float:
        """Start the server; return the seconds from the process start to its health path answering."""
        command, env = command_for(self.kind, self.port, self.workdir, self.args)
        log = (Path(self.args.log_dir) / f"bench-{self.kind}.log").open("ab")
        print(f"starting {self.kind}: {' '.join(command)} (log {log.name})", flush=True)
        started = time.perf_counter()
        self.process = subprocess.Popen(command, env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        log.close()
        self.health = await wait_until_up(self.url, self.process, self.args.startup_timeout, graphs=graphs)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def rss_mib(self) -> float:
        """RSS of the server's process tree, database processes (an embedded PostgreSQL) not counted."""
        if self.process is None:
            raise RuntimeError("not running")
        tree = [self.process.pid, *_descendants(self.process.pid)]
        return sum(_vmrss_kib(pid) for pid in tree if _comm(pid) not in DATABASE_PROCESSES) / 1024


def _comm(pid: int) -> str:
    with suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return ""


def _descendants(pid: int) -> list[int]:
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
