"""`aegra serve` and `aegra dev`: the HTTP API (and, unless `--no-workers`, the run workers) under uvicorn."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aegra import collector
from aegra.cli.common import (
    AllowUnauthenticatedOption,
    ConfigOption,
    EnvFileOption,
    GracefulExit,
    HostOption,
    PortOption,
    StopSignals,
    database_for,
    fail,
    prepare,
)
from aegra.errors import ConfigError

if TYPE_CHECKING:
    from litestar import Litestar

    from aegra.config import AegraConfig
    from aegra.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
STUDIO_URL = "https://smith.langchain.com/studio/?baseUrl={api}"
# How long an idle keep-alive connection stays open: longer than clients' own idle expiry (httpx, under both
# LangGraph SDKs' Python client, drops idle connections after 5 s; load balancers after about 60 s), so the client
# always closes first. At uvicorn's default of 5 s the server could close a connection in the same instant a
# client reused it for a POST, which the client then sees as a dropped request it may not retry.
KEEP_ALIVE_SECONDS = 75

NoWorkersOption = Annotated[
    bool,
    typer.Option(
        "--no-workers",
        help=(
            "API only: queue runs but execute none, fire no crons, sweep nothing (default: $AEGRA_WORKERS=false, "
            "else serve runs too). `aegra worker` processes on the same database execute them."
        ),
    ),
]


def listen(host: str, port: int) -> socket.socket:
    """Bind a socket up front: the banner shows the address really bound, and a taken port or an unknown host
    fails before the database starts. uvicorn serves it (in every worker process)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise fail(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise fail(f"cannot listen on {host_port(str(address[0]), port)}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_exposure(bound: IPAddress, port: int, *, auth: bool, allowed: bool) -> None:
    """Refuse to serve every graph and thread to the network without authentication, unless told to."""
    if bound.is_loopback or auth:
        return
    where = host_port(str(bound), port)
    if not allowed:
        raise fail(
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
    return f"http://{host_port(str(bound), port)}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """How `serve` or `dev` was asked to run: their command-line parameters (by name), the rest at its default."""

    host: str | None = None
    port: int | None = None
    config: Path | None = None
    env_file: Path | None = None
    reload: bool = False
    workers: int = 1
    studio: bool = False
    allow_unauthenticated: bool = False
    no_workers: bool = False


def run_server(options: ServeOptions) -> None:
    with collector.paused():  # until the lifespan has started (or uvicorn's processes take over)
        _run_server(options)


def _run_server(options: ServeOptions) -> None:
    from aegra.observability.logging import configure_logging

    settings, loaded = prepare(options.config, options.env_file, require_config=True)
    assert loaded is not None
    if options.no_workers:
        settings = dataclasses.replace(settings, workers_enabled=False)
        os.environ["AEGRA_WORKERS"] = "false"  # uvicorn's worker and reload processes are API-only too
    configure_logging(settings.log_level, json_logs=settings.log_json)
    os.environ["AEGRA_CONFIG"] = loaded.config_file  # worker and reload processes find the same file
    host = options.host if options.host is not None else settings.host
    sock = listen(host, options.port if options.port is not None else settings.port)
    with contextlib.closing(sock):
        bound_host, bound_port = sock.getsockname()[:2]
        bound = ipaddress.ip_address(bound_host)
        has_auth = loaded.auth is not None and bool(loaded.auth.path)
        allowed = options.allow_unauthenticated or settings.allow_unauthenticated
        _check_exposure(bound, bound_port, auth=has_auth, allowed=allowed)
        os.environ["HOST"] = str(bound)  # graphs and auth code (and worker processes) see the address served
        _serve(sock, settings, loaded, options)


def _serve(sock: socket.socket, settings: Settings, loaded: AegraConfig, options: ServeOptions) -> None:
    bound_host, bound_port = sock.getsockname()[:2]
    bound = ipaddress.ip_address(bound_host)
    signals = StopSignals()
    with signals.installed():
        try:
            with database_for(settings, signals) as database_url:
                # With reload, the reload processes build the app (and report a graph that fails to load).
                served = None if options.reload else _built_app(settings, loaded, database_url)
                api = _banner_url(bound, bound_port)
                everywhere = f"   (listening on {host_port(str(bound), bound_port)}: every interface)"
                role = "" if settings.workers_enabled else "   (API only: `aegra worker` processes execute runs)"
                typer.echo(f"API: {api}   Docs: {api}/docs{everywhere if bound.is_unspecified else ''}{role}")
                if options.studio:
                    typer.echo(f"Studio: {STUDIO_URL.format(api=api)}")
                _run_uvicorn(sock, served, loaded, database_url, reload=options.reload, workers=options.workers)
        except GracefulExit:
            pass  # uvicorn has already drained; the embedded database stopped on the way out


def _built_app(settings: Settings, loaded: AegraConfig, database_url: Callable[[], str]) -> Litestar:
    """Build everything the config describes (graphs, store index, TTLs, exporters), so a mistake there is a clean
    error. With workers, the processes uvicorn starts build their own. (With reload, only they build it: see
    `aegra.cli.reload`.)"""
    from aegra.app import create_app  # the heavy imports overlap with the embedded database's boot
    from aegra.graphs.registry import GraphRegistry

    try:
        registry = GraphRegistry.from_config(loaded)  # a graph that fails to import is a clean error
        url = database_url()
        served = create_app(dataclasses.replace(settings, database_url=url), loaded, registry=registry)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    os.environ["DATABASE_URL"] = url  # worker and reload processes share this one database
    return served


def _run_uvicorn(
    sock: socket.socket,
    served: Litestar | None,
    loaded: AegraConfig,
    database_url: Callable[[], str],
    *,
    reload: bool,
    workers: int,
) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    bound_host, bound_port = sock.getsockname()[:2]
    factory = reload or workers > 1
    server_config = uvicorn.Config(
        "aegra.app:create_app_from_env" if factory or served is None else served,
        factory=factory,
        host=bound_host,
        port=bound_port,
        reload=reload,
        reload_dirs=[loaded.base_dir] if reload else None,
        workers=1 if reload else workers,
        log_config=None,
        access_log=False,  # aegra.access logs each request; uvicorn's line (never shown: see NOISY_LOGGERS) cost CPU
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
    )
    if factory:  # the processes uvicorn starts build and serve; this one only supervises them
        collector.resume()
    if reload:
        from aegra.cli.reload import run_reloading

        run_reloading(server_config, sock, database_url)
    elif workers > 1:
        Multiprocess(server_config, sockets=[sock]).run()
    else:
        uvicorn.Server(server_config).run(sockets=[sock])


def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int, typer.Option(help="Worker processes (they share one database).", min=1)] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development only).")] = False,
    no_workers: NoWorkersOption = False,
    config: ConfigOption = None,
    env_file: EnvFileOption = None,
    allow_unauthenticated: AllowUnauthenticatedOption = False,
) -> None:
    """Serve the graphs of aegra.json on 127.0.0.1 (--host to change). Without DATABASE_URL, an embedded PostgreSQL
    runs under ./.aegra/."""
    run_server(ServeOptions(**locals()))


def dev(
    host: HostOption = None,
    port: PortOption = None,
    reload: Annotated[bool, typer.Option(help="Restart when files in the project change.")] = True,
    config: ConfigOption = None,
    env_file: EnvFileOption = None,
    allow_unauthenticated: AllowUnauthenticatedOption = False,
) -> None:
    """Development server: localhost, reload on file change, embedded PostgreSQL unless DATABASE_URL is set."""
    run_server(ServeOptions(**locals(), studio=True))
