"""Start each server as a user would (default settings), time its warm startup, read its memory, stop it.

Every process starts in a session of its own, so a Ctrl-C in the terminal reaches the harness only, and the
harness stops each one, with what it started: `stop()` signals the whole process group, and
`stop_postmasters` then ends any PostgreSQL left running under a folder the harness made (`pg_ctl` detaches the
embedded one from its parent's session, so only its owner's shutdown, or this, stops it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
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
# PYTHONDONTWRITEBYTECODE goes too: with it set (as in some sandboxes) and a venv installed without compiled
# bytecode (uv's default), every start compiles every module from source (~2x the import time), so the "warm"
# start would not be warm; pip-installed venvs (the peers') ship compiled bytecode either way.
SCRUBBED = (
    "DATABASE_URL",
    "AEGRA_CONFIG",
    "PORT",
    "HOST",
    "LOG_LEVEL",
    "N_JOBS_PER_WORKER",
    "AEGRA_DATA_DIR",
    "PYTHONDONTWRITEBYTECODE",
)


# The ports handed out in this process: servers started at once must not all get the first free one.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 that no other server of this process was given."""
    for port in range(21000 + os.getpid() % 4000, 30000):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
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
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            command, env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.health = await wait_until_up(self.url, self.process, self.args.startup_timeout, graphs=graphs)
        return time.perf_counter() - started

    def stop(self) -> None:
        """SIGTERM to the server's process group (SIGKILL after 30 s), then any PostgreSQL it left behind."""
        if self.process is not None:
            stop_process_group(self.process, grace=30.0)
            self.process = None
        stop_postmasters(self.workdir)

    def rss_mib(self) -> float:
        """RSS of the server's process tree, database processes (an embedded PostgreSQL) not counted."""
        if self.process is None:
            raise RuntimeError("not running")
        tree = [self.process.pid, *_descendants(self.process.pid)]
        return sum(_vmrss_kib(pid) for pid in tree if _comm(pid) not in DATABASE_PROCESSES) / 1024


def stop_process_group(process: subprocess.Popen[bytes], *, grace: float) -> None:
    """SIGTERM to the group `process` leads (started with `start_new_session`), SIGKILL if it outlives `grace`."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    with suppress(ProcessLookupError):  # children that ignored the SIGTERM of their leader
        os.killpg(process.pid, signal.SIGKILL)


def stop_postmasters(root: Path, *, grace: float = 20.0) -> list[int]:
    """Fast-shutdown (SIGINT) every PostgreSQL still running on a data folder under `root`; their pids."""
    stopped = []
    for pidfile in root.glob("**/postmaster.pid"):
        with suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            if os.readlink(f"/proc/{pid}/cwd") == str(pidfile.parent.resolve()):  # PostgreSQL runs in its folder
                os.kill(pid, signal.SIGINT)
                stopped.append(pid)
    deadline = time.monotonic() + grace
    for pid in stopped:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    return stopped


def ensure_database(url: str) -> bool:
    """Create the database `url` names on its server unless it exists; whether it was created."""
    import psycopg  # the harness's virtualenv (this repository's) has it; only aegra-api 0.11 needs this
    from psycopg import sql

    server, _, name = url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


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
