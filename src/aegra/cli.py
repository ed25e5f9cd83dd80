"""The `aegra` command: serve, dev, init, migrate, version."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import signal
import socket
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

from aegra import __version__
from aegra.errors import ConfigError

if TYPE_CHECKING:
    from aegra.config import AegraConfig
    from aegra.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
STUDIO_URL = "https://smith.langchain.com/studio/?baseUrl={api}"
CONNECT_TIMEOUT_SECONDS = 10

app = typer.Typer(
    name="aegra",
    help=(
        "Aegra: a self-hosted Agent Protocol server for LangGraph graphs, on your own PostgreSQL.\n\n"
        "Start with `aegra init my-project`, then `aegra dev` inside it. Without DATABASE_URL, `serve` and `dev` "
        "run an embedded PostgreSQL under ./.aegra/."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
migrate_app = typer.Typer(
    help="Apply or inspect database migrations (Aegra's tables, LangGraph's checkpointer and store).",
    no_args_is_help=True,
)
app.add_typer(migrate_app, name="migrate")

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


def _fail(message: str) -> typer.Exit:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _load_env_file(env_file: Path | None) -> None:
    from dotenv import load_dotenv

    if env_file is None:
        load_dotenv(Path.cwd() / ".env", override=False)
        return
    if not env_file.is_file():
        raise typer.BadParameter(f"{env_file} does not exist", param_hint="--env-file")
    load_dotenv(env_file, override=False)


def _prepare(
    config: Path | None, env_file: Path | None, *, require_config: bool
) -> tuple[Settings, AegraConfig | None]:
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
        raise _fail(str(exc)) from None
    return settings, loaded


def _config_exists() -> bool:
    from aegra.config import resolve_config_path

    try:
        resolve_config_path()
    except ConfigError:
        return False
    return True


def _check_reachable(url: str) -> None:
    """Fail in a second with a readable message, instead of a pool timeout and a traceback half a minute later."""
    import psycopg

    from aegra.db.url import psycopg_conninfo, redact

    try:
        conninfo = psycopg_conninfo(url)
        with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except psycopg.Error as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        raise _fail(f"cannot connect to DATABASE_URL {redact(url)}: {reason}") from None


@contextmanager
def _database(settings: Settings, signals: StopSignals) -> Iterator[Callable[[], str]]:
    """Yield a function returning the database URL: DATABASE_URL, or an embedded PostgreSQL's for the block.

    The embedded server starts in a background thread right away, so it boots while the application imports
    (each takes about a second on a cold start); the function waits for it. It stops when the block ends.
    """
    if settings.database_url is not None:
        external = settings.database_url

        def reachable_url() -> str:
            _check_reachable(external)
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
            raise _fail(str(exc)) from None
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log = embedded.pgdata / "log"
            raise _fail(f"embedded PostgreSQL failed to start in {embedded.pgdata} ({exc}); see {log}") from None
        typer.echo(f"Embedded PostgreSQL ready in {seconds:.1f}s ({embedded.pgdata})")
        return url

    try:
        yield ready_url
    finally:
        with signals.ignored():
            futures.wait([booting])  # a server still booting must be up before it can be stopped
            embedded.stop()
        starter.shutdown()


def _listen(host: str, port: int) -> socket.socket:
    """Bind the server's socket up front: the banner shows the address really bound, and a taken port or an
    unknown host fails before the database starts. uvicorn serves it (in every worker process)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise _fail(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise _fail(f"cannot listen on {_host_port(str(address[0]), port)}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_exposure(bound: IPAddress, port: int, *, auth: bool, allowed: bool) -> None:
    """Refuse to serve every graph and thread to the network without authentication, unless told to."""
    if bound.is_loopback or auth:
        return
    where = _host_port(str(bound), port)
    if not allowed:
        raise _fail(
            f"refusing to listen on {where} without authentication: anyone who can reach it could run your "
            "graphs and read every thread. Configure `auth` in aegra.json, keep the default --host 127.0.0.1, "
            "or pass --allow-unauthenticated (AEGRA_ALLOW_UNAUTHENTICATED=true) when a proxy or private network "
            "in front of Aegra controls access."
        )
    typer.secho(
        f"Warning: listening on {where} without authentication (allowed by --allow-unauthenticated or "
        "AEGRA_ALLOW_UNAUTHENTICATED): anyone who can reach it can run your graphs and read every thread.",
        fg=typer.colors.YELLOW,
        err=True,
    )


def _banner_url(bound: IPAddress, port: int) -> str:
    """A URL for the bound address; for every interface (0.0.0.0, ::), this machine's loopback address."""
    if bound.is_unspecified:
        bound = ipaddress.ip_address("::1" if bound.version == 6 else "127.0.0.1")
    return f"http://{_host_port(str(bound), port)}"


def _run_server(
    *,
    host: str | None,
    port: int | None,
    config: Path | None,
    env_file: Path | None,
    reload: bool,
    workers: int,
    studio: bool,
    allow_unauthenticated: bool,
) -> None:
    from aegra.observability.logging import configure_logging

    settings, loaded = _prepare(config, env_file, require_config=True)
    assert loaded is not None
    configure_logging(settings.log_level, json_logs=settings.log_json)
    os.environ["AEGRA_CONFIG"] = loaded.config_file  # worker and reload processes find the same file
    sock = _listen(host if host is not None else settings.host, port if port is not None else settings.port)
    with contextlib.closing(sock):
        bound_host, bound_port = sock.getsockname()[:2]
        bound = ipaddress.ip_address(bound_host)
        has_auth = loaded.auth is not None and bool(loaded.auth.path)
        allowed = allow_unauthenticated or settings.allow_unauthenticated
        _check_exposure(bound, bound_port, auth=has_auth, allowed=allowed)
        os.environ["HOST"] = str(bound)  # graphs and auth code (and worker processes) see the address served
        _serve(sock, settings, loaded, reload=reload, workers=workers, studio=studio)


def _serve(
    sock: socket.socket, settings: Settings, loaded: AegraConfig, *, reload: bool, workers: int, studio: bool
) -> None:
    import uvicorn
    from uvicorn.supervisors import ChangeReload, Multiprocess

    bound_host, bound_port = sock.getsockname()[:2]
    bound = ipaddress.ip_address(bound_host)
    signals = StopSignals()
    with signals.installed():
        try:
            with _database(settings, signals) as database_url:
                from aegra.app import create_app  # the heavy imports overlap with the embedded database's boot
                from aegra.graphs.registry import GraphRegistry

                try:
                    registry = GraphRegistry.from_config(loaded)  # a graph that fails to import is a clean error
                    url = database_url()
                    # Build everything the config describes (store index, TTLs, exporters) so a mistake there is a
                    # clean error too. With workers or reload, the processes uvicorn starts build their own.
                    served = create_app(dataclasses.replace(settings, database_url=url), loaded, registry=registry)
                except ConfigError as exc:
                    raise _fail(str(exc)) from None
                os.environ["DATABASE_URL"] = url  # worker and reload processes share this one database
                api = _banner_url(bound, bound_port)
                everywhere = f"   (listening on {_host_port(str(bound), bound_port)}: every interface)"
                typer.echo(f"API: {api}   Docs: {api}/docs{everywhere if bound.is_unspecified else ''}")
                if studio:
                    typer.echo(f"Studio: {STUDIO_URL.format(api=api)}")
                factory = reload or workers > 1
                server_config = uvicorn.Config(
                    "aegra.app:create_app_from_env" if factory else served,
                    factory=factory,
                    host=bound_host,
                    port=bound_port,
                    reload=reload,
                    reload_dirs=[loaded.base_dir] if reload else None,
                    workers=1 if reload else workers,
                    log_config=None,
                    timeout_graceful_shutdown=10,
                    server_header=False,
                )
                server = uvicorn.Server(server_config)
                if reload:
                    ChangeReload(server_config, target=server.run, sockets=[sock]).run()
                elif workers > 1:
                    Multiprocess(server_config, sockets=[sock]).run()
                else:
                    server.run(sockets=[sock])
        except GracefulExit:
            pass  # uvicorn has already drained; the embedded database stopped on the way out


@app.callback(invoke_without_command=True)
def main(
    show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Aegra: a self-hosted Agent Protocol server for LangGraph graphs, on your own PostgreSQL."""
    if show_version:
        typer.echo(f"aegra {__version__}")
        raise typer.Exit()


@app.command()
def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int, typer.Option(help="Worker processes (they share one database).", min=1)] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development only).")] = False,
    config: ConfigOption = None,
    env_file: EnvFileOption = None,
    allow_unauthenticated: AllowUnauthenticatedOption = False,
) -> None:
    """Serve the graphs of aegra.json on 127.0.0.1 (--host to change). Without DATABASE_URL, an embedded PostgreSQL
    runs under ./.aegra/."""
    _run_server(
        host=host,
        port=port,
        config=config,
        env_file=env_file,
        reload=reload,
        workers=workers,
        studio=False,
        allow_unauthenticated=allow_unauthenticated,
    )


@app.command()
def dev(
    host: HostOption = None,
    port: PortOption = None,
    reload: Annotated[bool, typer.Option(help="Restart when files in the project change.")] = True,
    config: ConfigOption = None,
    env_file: EnvFileOption = None,
    allow_unauthenticated: AllowUnauthenticatedOption = False,
) -> None:
    """Development server: localhost, reload on file change, embedded PostgreSQL unless DATABASE_URL is set."""
    _run_server(
        host=host,
        port=port,
        config=config,
        env_file=env_file,
        reload=reload,
        workers=1,
        studio=True,
        allow_unauthenticated=allow_unauthenticated,
    )


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project (created if missing).")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite files that already exist.")] = False,
) -> None:
    """Write a runnable starter project: aegra.json, a graph with a fake chat model, .env.example."""
    from aegra.scaffold import write_starter_project

    try:
        written = write_starter_project(directory, overwrite=force)
    except FileExistsError as exc:
        raise _fail(f"{exc} already exists (use --force to overwrite)") from None
    for path in written:
        typer.echo(f"created {path}")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    typer.echo(f"\nNext: {where}aegra dev")


async def _migrate(
    settings: Settings, url: str, config: AegraConfig | None, *, upgrade: bool
) -> tuple[str | None, str | None]:
    """Upgrade (when asked) and return (current revision, head revision)."""
    from aegra.db import migrate
    from aegra.db.database import Database
    from aegra.store.embeddings import build_index_config

    store_index = build_index_config(config) if config is not None else None  # vector tables when configured
    database = Database(
        url, dataclasses.replace(settings, database_url=url, run_migrations=True), store_index=store_index
    )
    try:
        current = await migrate.current_revision(database.engine)  # fails fast when the server is unreachable
        if upgrade:
            await database.open()
            current = await migrate.current_revision(database.engine)
        return current, migrate.head_revision()
    finally:
        await database.close()


def _run_migrate(config: Path | None, env_file: Path | None, *, upgrade: bool) -> tuple[str | None, str | None]:
    from psycopg import Error as PsycopgError
    from psycopg_pool import PoolTimeout
    from sqlalchemy.exc import SQLAlchemyError

    from aegra.db.url import redact

    settings, loaded = _prepare(config, env_file, require_config=False)
    signals = StopSignals()
    try:
        with signals.installed(), _database(settings, signals) as database_url:
            url = database_url()
            try:
                return asyncio.run(_migrate(settings, url, loaded, upgrade=upgrade))
            except ConfigError as exc:
                raise _fail(str(exc)) from None
            except (OSError, SQLAlchemyError, PsycopgError, PoolTimeout) as exc:
                raise _fail(f"database {redact(url)}: {exc}") from None
    except GracefulExit:
        raise _fail("interrupted") from None


@migrate_app.command("upgrade")
def migrate_upgrade(config: ConfigOption = None, env_file: EnvFileOption = None) -> None:
    """Apply every pending migration (Aegra's tables, LangGraph's checkpointer and store)."""
    current, _ = _run_migrate(config, env_file, upgrade=True)
    typer.echo(f"Database at revision {current} (head)")


@migrate_app.command("current")
def migrate_current(config: ConfigOption = None, env_file: EnvFileOption = None) -> None:
    """Print the revision the database is at, and whether it is the newest."""
    current, head = _run_migrate(config, env_file, upgrade=False)
    if current is None:
        typer.echo(f"none (no migrations applied; head is {head})")
    elif current == head:
        typer.echo(f"{current} (head)")
    else:
        typer.echo(f"{current} (behind head {head}: run `aegra migrate upgrade`)")


@app.command()
def version() -> None:
    """Print the Aegra version."""
    typer.echo(f"aegra {__version__}")
