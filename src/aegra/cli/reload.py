"""`aegra dev`'s reload: uvicorn's ChangeReload, with the app built only in the process that serves it.

The supervising process parses the config, binds the socket and starts the database; each reload process builds
the app (graphs, store index, exporters) and serves. The first one tells the supervisor over a pipe whether it
started, or the ConfigError that stopped it: a graph that fails to load on `aegra dev` is the same one-line error
and exit code 1 as on `aegra serve`, without building the app twice. Later reload processes (after a change) have
nobody listening: they print their error themselves and the supervisor waits for the next change, as uvicorn does.

It builds on uvicorn's reloader beyond its documented surface (`WatchFilesReload.startup`, its `process` and
`should_exit`, a custom `target`); tests/e2e/test_dev_cli.py starts a real `aegra dev`, reloads it and breaks it,
so an upgrade that changes those fails there loudly.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

import uvicorn
from uvicorn.supervisors.watchfilesreload import WatchFilesReload

from aegra import collector
from aegra.cli.common import fail, report_error
from aegra.errors import ConfigError

STARTUP_FAILURE = 3  # uvicorn's exit code for a process that could not start


class _ReportingServer(uvicorn.Server):
    """A uvicorn server that reports, once its lifespan has started and it listens, that it is up."""

    def __init__(self, config: uvicorn.Config, started: ReloadChild) -> None:
        super().__init__(config)
        self._reporter = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._reporter.report(None)


@dataclasses.dataclass(frozen=True, slots=True)
class ReloadChild:
    """What uvicorn runs in each reload process (pickled to it with the pipe's sending end): build, then serve."""

    config: uvicorn.Config
    outcomes: Connection
    database: Connection

    def __call__(self, sockets: list[socket.socket] | None = None) -> None:
        with collector.paused():  # as in `aegra serve`, from before the imports: the lifespan resumes it
            self._build_and_serve(sockets)

    def _build_and_serve(self, sockets: list[socket.socket] | None) -> None:
        from aegra.app import create_app_from_env  # the heavy imports overlap with the database's boot

        if "DATABASE_URL" not in os.environ:  # the first process starts before the embedded database is up
            try:
                os.environ["DATABASE_URL"] = self.database.recv()
            except EOFError:  # the supervisor stopped before the database was up
                sys.exit(STARTUP_FAILURE)
        try:
            app = create_app_from_env()
        except ConfigError as exc:
            if not self.report(str(exc)):
                report_error(str(exc))
            sys.exit(STARTUP_FAILURE)
        self.config.app = app
        self.config.factory = False
        _ReportingServer(self.config, self).run(sockets=sockets)

    def report(self, failure: str | None) -> bool:
        """Tell the supervisor how startup went (None: serving); False when it no longer listens."""
        try:
            self.outcomes.send(failure)
        except OSError:  # the supervisor has its verdict from the first process and closed its end
            return False
        return True


class _Reloader(WatchFilesReload):
    """uvicorn's reloader (uvicorn[standard] brings watchfiles), watching how its first process starts."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, database_url: Callable[[], str]) -> None:
        self._receiving, self._sending = get_context("spawn").Pipe(duplex=False)
        self._database, self._database_url = get_context("spawn").Pipe(duplex=False), database_url
        target = ReloadChild(config, self._sending, self._database[0])
        super().__init__(config, target=target, sockets=[sock])
        self._watcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="first-start")
        self.first_start: Future[str | None] = Future()

    def startup(self) -> None:
        super().startup()
        try:
            url = self._database_url()
        except BaseException:  # it cannot start (a clean CLI error) or Ctrl-C: so neither can the first process
            self.process.terminate()
            self.process.join()
            raise
        os.environ["DATABASE_URL"] = url  # later reload processes share this one database
        self._database[1].send(url)
        self.first_start = self._watcher.submit(_first_start, self.process, self._receiving, self.should_exit)
        self.first_start.add_done_callback(self._stop_on_failure)

    def _stop_on_failure(self, first_start: Future[str | None]) -> None:
        if first_start.result() is not None:
            self.should_exit.set()  # the reload loop ends and shuts down, as on Ctrl-C

    def close(self) -> None:
        self._watcher.shutdown(wait=False)  # done once the first process has ended (or reported)
        self._sending.close()
        for end in self._database:
            end.close()


def run_reloading(config: uvicorn.Config, sock: socket.socket, database_url: Callable[[], str]) -> None:
    """Serve with reload on change; exit with the clear error when the first process fails to start. The first
    process starts importing while `database_url` waits for the database."""
    reloader = _Reloader(config, sock, database_url)
    try:
        reloader.run()
    finally:
        reloader.close()
    failure = reloader.first_start.result()
    if failure is not None:
        raise fail(failure)


def _first_start(process: BaseProcess, outcomes: Connection, stopping: threading.Event) -> str | None:
    """Wait for the first reload process to report (None: it serves), or to end without a word. Closes the
    receiving end after: later processes print their own errors."""
    with outcomes:
        wait([outcomes, process.sentinel])
        if outcomes.poll():
            failure: str | None = outcomes.recv()
            return failure
    process.join()
    exit_code = process.exitcode  # None: the reload loop reaped it (it stopped the process)
    if stopping.is_set() or exit_code is None or exit_code <= 0:  # stopped by a signal, or a reload before it was up
        return None
    return f"the server process exited with code {exit_code} before it started (its log is above)"
