"""What the `aegra` commands share: their options, stop signals, loading .env, config and settings, and the
database (DATABASE_URL, or an embedded PostgreSQL for the duration of a command)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from aegra.errors import ConfigError

if TYPE_CHECKING:
    from aegra.config import AegraConfig
    from aegra.settings import Settings

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
CONNECT_TIMEOUT_SECONDS = 10

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $AEGRA_CONFIG, else ./aegra.json, else ./langgraph.json)."
    ),
]
EnvFileOption = Annotated[
    Path | None, typer.Option("--env-file", "-e", help="A .env file to load first (default: ./.env when present).")
]
PortOption = Annotated[
    int | None, typer.Option(help="Port to listen on (default: $PORT, else 2026; 0 picks a free one).", min=0)
]
HostOption = Annotated[
    str | None,
    typer.Option(help="Interface to bind (default: $HOST, else 127.0.0.1: this machine only; 0.0.0.0: every one)."),
]
AllowUnauthenticatedOption = Annotated[
    bool,
    typer.Option(
        "--allow-unauthenticated",
        help=(
            "Listen on a non-loopback address although aegra.json configures no `auth` (default: "
            "$AEGRA_ALLOW_UNAUTHENTICATED, else refuse). Only behind something that controls access."
        ),
    ),
]


class GracefulExit(Exception):
    """Raised in the main thread when SIGINT or SIGTERM asks the server to stop."""


class StopSignals:
    """Turns SIGINT/SIGTERM into `GracefulExit` in the main thread, or ignores them while cleanup must finish.

    uvicorn handles the signals itself while it serves, then re-raises them once it has shut down; without
    this the default SIGTERM action would kill the process before the embedded PostgreSQL is stopped.
    """

    @staticmethod
    def _handle(signum: int, frame: FrameType | None) -> None:
        raise GracefulExit(signum)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Route the stop signals here for the duration of the block."""
        with _signal_handlers(self._handle):
            yield

    @contextmanager
    def ignored(self) -> Iterator[None]:
        """Ignore stop signals for the block (stopping the database must finish)."""
        with _signal_handlers(signal.SIG_IGN):
            yield


@contextmanager
def _signal_handlers(handler: Callable[[int, FrameType | None], None] | signal.Handlers) -> Iterator[None]:
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, earlier in previous.items():
            signal.signal(sig, earlier)


def fail(message: str) -> typer.Exit:
    report_error(message)
    return typer.Exit(code=1)


def report_error(message: str) -> None:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)


def _load_env_file(env_file: Path | None) -> None:
    from dotenv import load_dotenv

    if env_file is None:
        load_dotenv(Path.cwd() / ".env", override=False)
        return
    if not env_file.is_file():
        raise typer.BadParameter(f"{env_file} does not exist", param_hint="--env-file")
    load_dotenv(env_file, override=False)


def prepare(config: Path | None, env_file: Path | None, *, require_config: bool) -> tuple[Settings, AegraConfig | None]:
    """Load .env, then the config file (exporting its `env`), then the settings; config problems exit cleanly."""
    from aegra.config import apply_env, load_config
    from aegra.settings import Settings

    _load_env_file(env_file)
    loaded: AegraConfig | None = None
    try:
        if require_config or config is not None or os.environ.get("AEGRA_CONFIG") or _config_exists():
            loaded = load_config(config)
            apply_env(loaded)
        settings = Settings.from_env()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return settings, loaded


def _config_exists() -> bool:
    from aegra.config import resolve_config_path

    try:
        resolve_config_path()
    except ConfigError:
        return False
    return True


def check_reachable(url: str) -> None:
    """Fail in a second with a readable message, instead of a pool timeout and a traceback half a minute later."""
    import psycopg

    from aegra.db.url import psycopg_conninfo, redact

    try:
        conninfo = psycopg_conninfo(url)
        with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except psycopg.Error as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        raise fail(f"cannot connect to DATABASE_URL {redact(url)}: {reason}") from None


@contextmanager
def database_for(settings: Settings, signals: StopSignals) -> Iterator[Callable[[], str]]:
    """Yield a function returning the database URL: DATABASE_URL, or an embedded PostgreSQL's for the block.

    The embedded server starts in a background thread right away, so it boots while the application imports
    (each takes about a second on a cold start); the function waits for it. It stops when the block ends.
    """
    if settings.database_url is not None:
        external = settings.database_url

        def reachable_url() -> str:
            check_reachable(external)
            return external

        yield reachable_url
        return
    from aegra.db.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.embedded_pgdata)

    def boot() -> tuple[str, float]:
        started = time.perf_counter()
        return embedded.start(), time.perf_counter() - started

    starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-postgres")
    booting = starter.submit(boot)

    def ready_url() -> str:
        try:
            url, seconds = booting.result()
        except ConfigError as exc:  # a data folder it cannot use: the message says which and what to do
            raise fail(str(exc)) from None
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log = embedded.pgdata / "log"
            raise fail(f"embedded PostgreSQL failed to start in {embedded.pgdata} ({exc}); see {log}") from None
        typer.echo(f"Embedded PostgreSQL ready in {seconds:.1f}s ({embedded.pgdata})")
        return url

    try:
        yield ready_url
    finally:
        with signals.ignored():
            futures.wait([booting])  # a server still booting must be up before it can be stopped
            embedded.stop()
        starter.shutdown()
