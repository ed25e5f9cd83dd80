"""The columns of the side-by-side table as things that stay up for the whole sitting and measure one workload
when asked: a server (reached through the SDK) or the in-process limit (a bench/sidebyside/limit.py worker)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidebyside import workloads
from sidebyside.servers import BENCH, Server, prepare_workdir, stop_postmasters
from sidebyside.table import LIMIT

REPO_ROOT = BENCH.parent
# The limit worker's protocol on its stdout: READY once, then one RESULT line per workload name it reads.
READY = "READY"
RESULT = "RESULT "


@dataclass(frozen=True)
class Workload:
    """One row's measurement: `group` is its name for `--skip`, `keys` the cells it fills, in order."""

    name: str
    group: str
    keys: tuple[str, ...]


WORKLOADS = [
    Workload("threads_create", "threads", ("threads_create",)),
    Workload("wait_thread", "wait", ("wait_thread",)),
    Workload("wait_stateless", "wait", ("wait_stateless",)),
    Workload("stream", "stream", ("stream_rate", "stream_ttft")),
    Workload("burst", "burst", ("burst_wall",)),
    Workload("store", "store", ("store_put", "store_get", "store_search")),
]
STREAMS = Workload("streams", "streams", ("streams_done", "streams_first_p50"))
STARTUP = Workload("startup_warm", "startup", ("startup_warm",))
LIMIT_WORKLOADS = {"wait_thread", "wait_stateless", "stream", "burst", "store", "streams"}


class ServerTarget:
    """A server started once in a temporary folder of its own (so a later start there is a warm one)."""

    def __init__(self, kind: str, args: Any) -> None:
        self.name = kind
        self.args = args
        self._folder = tempfile.TemporaryDirectory(prefix=f"bench-{kind}-")
        prepare_workdir(Path(self._folder.name))
        self.server = Server(kind, Path(self._folder.name), args)
        self.client: Any = None
        self.wait_mode = "if_not_exists"
        self.notes: list[str] = []

    def supports(self, workload: Workload) -> bool:
        return True

    async def start(self) -> float:
        """Start the server with the bench graphs registered; the seconds it took."""
        seconds = await self.server.start()
        self.client = workloads.sdk_client(self.server.url, connections=64)
        return seconds

    async def measure(self, workload: Workload) -> tuple[float, ...]:
        if workload.name == "wait_thread":
            return (await self._wait_thread(),)
        if workload.name == "streams":
            return await workloads.concurrent_streams(self.server.url, self.args)
        if workload.name == "startup_warm":
            return (await self.warm_start(),)
        body = {
            "threads_create": workloads.threads_create,
            "wait_stateless": lambda client, args: workloads.runs_wait(client, "stateless", args),
            "stream": workloads.stream_tokens,
            "burst": workloads.burst,
            "store": workloads.store_ops,
        }[workload.name]
        value = await body(self.client, self.args)
        return value if isinstance(value, tuple) else (value,)

    async def _wait_thread(self) -> float:
        if self.wait_mode == "if_not_exists":
            try:
                return await workloads.runs_wait(self.client, "if_not_exists", self.args)
            except Exception as error:  # noqa: BLE001 - no if_not_exists: create the thread first (one more request)
                self.wait_mode = "create"
                self.notes.append(f"runs.wait on a thread = threads.create + runs.wait ({error})"[:120])
        return await workloads.runs_wait(self.client, "create", self.args)

    def rss_mib(self) -> float:
        return self.server.rss_mib()

    async def warm_start(self) -> float:
        """Start the stopped server again in its folder, time it to its health path, stop it."""
        try:
            return await self.server.start(graphs=False)
        finally:
            await asyncio.to_thread(self.server.stop)

    async def stop(self) -> None:
        """Stop the server (its process group, then any PostgreSQL left under its folder)."""
        if self.client is not None:
            await self.client.http.client.aclose()
            self.client = None
        await asyncio.to_thread(self.server.stop)

    def cleanup(self) -> None:
        self._folder.cleanup()


class LimitTarget:
    """The in-process limit: one limit.py worker (and its embedded PostgreSQL) up for the whole sitting."""

    def __init__(self, args: Any) -> None:
        self.name = LIMIT
        self.args = args
        self._folder = tempfile.TemporaryDirectory(prefix="bench-limit-")
        self.process: asyncio.subprocess.Process | None = None
        self.notes: list[str] = []

    def supports(self, workload: Workload) -> bool:
        return workload.name in LIMIT_WORKLOADS

    async def start(self) -> float:
        args = self.args
        command = [args.aegra_python, str(BENCH / "sidebyside" / "limit.py"), "--data-dir", self._folder.name]
        command += ["--duration", str(args.duration), "--warmup", str(args.warmup), "--tokens", str(args.tokens)]
        command += ["--burst", str(args.burst), "--store-ops", str(args.store_ops), "--streams", str(args.streams)]
        command += ["--stream-repeat", str(args.stream_repeat)]
        log = (Path(args.log_dir) / "bench-limit.log").open("ab")
        print(f"starting the in-process limit: {' '.join(command)} (log {log.name})", flush=True)
        started = asyncio.get_running_loop().time()
        self.process = await asyncio.create_subprocess_exec(
            *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=REPO_ROOT, start_new_session=True
        )
        log.close()
        await asyncio.wait_for(self._line(READY), args.startup_timeout)
        return asyncio.get_running_loop().time() - started

    async def _line(self, prefix: str) -> str:
        """The rest of the worker's next stdout line that starts with `prefix` (other lines are skipped)."""
        if self.process is None or self.process.stdout is None:
            raise RuntimeError("the limit worker is not running")
        while raw := await self.process.stdout.readline():
            line = raw.decode().rstrip("\n")
            if line.startswith(prefix):
                return line[len(prefix) :]
        raise RuntimeError(f"the limit worker exited ({await self.process.wait()})")

    async def measure(self, workload: Workload) -> tuple[float, ...]:
        if self.process is None or self.process.stdin is None:
            raise RuntimeError("the limit worker is not running")
        self.process.stdin.write(f"{workload.name}\n".encode())
        await self.process.stdin.drain()
        result = json.loads(await self._line(RESULT))
        if "error" in result:
            raise RuntimeError(result["error"])
        return tuple(float(result[key]) for key in workload.keys)

    async def stop(self) -> None:
        """EOF on its stdin ends the worker (it stops its PostgreSQL); SIGTERM, then SIGKILL, if it is busy."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            for sig, grace in ((None, 5.0), (signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
                if sig is not None:
                    with suppress(ProcessLookupError):
                        os.killpg(process.pid, sig)
                with suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), grace)
                    break
        await asyncio.to_thread(stop_postmasters, Path(self._folder.name))

    def cleanup(self) -> None:
        self._folder.cleanup()


Target = ServerTarget | LimitTarget
