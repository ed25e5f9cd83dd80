"""`aegra worker`: claim and execute runs, fire crons, sweep and deliver webhooks, with no API."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from aegra import collector
from aegra.cli.common import STOP_SIGNALS, ConfigOption, EnvFileOption, check_reachable, fail, prepare
from aegra.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from aegra.config import AegraConfig
    from aegra.settings import Settings

HealthPortOption = Annotated[
    int | None,
    typer.Option(
        "--health-port",
        help="Serve GET /ok and /health on this port for orchestrators (default: $AEGRA_HEALTH_PORT, else none).",
        min=0,
    ),
]
HealthHostOption = Annotated[
    str | None,
    typer.Option("--health-host", help="Interface of the health endpoint (default: $HOST, else 127.0.0.1)."),
]


def worker(
    health_port: HealthPortOption = None,
    health_host: HealthHostOption = None,
    config: ConfigOption = None,
    env_file: EnvFileOption = None,
) -> None:
    """Claim and execute runs from DATABASE_URL, fire crons, sweep and deliver webhooks: no API. Run as many as you
    like next to `aegra serve --no-workers` processes; the database must be migrated (`aegra migrate upgrade`)."""
    with collector.paused():  # until the lifespan has started
        _worker(config, env_file, health_port, health_host)


def _worker(config: Path | None, env_file: Path | None, health_port: int | None, health_host: str | None) -> None:
    from aegra.observability.logging import configure_logging

    settings, loaded = prepare(config, env_file, require_config=True)
    assert loaded is not None
    if settings.database_url is None:
        raise fail(
            "aegra worker needs DATABASE_URL: the PostgreSQL the API processes use (an embedded database is "
            "private to one `aegra serve`)"
        )
    configure_logging(settings.log_level, json_logs=settings.log_json)
    check_reachable(settings.database_url)
    port = health_port if health_port is not None else settings.health_port
    health = (health_host or settings.host, port) if port is not None else None
    settings = dataclasses.replace(settings, workers_enabled=True, run_migrations=False)
    try:
        with asyncio.Runner(loop_factory=event_loop) as runner:
            runner.run(_main(settings, loaded, health))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot serve the health endpoint on {health}: {exc.strerror or exc}") from None


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (`uvicorn[standard]` brings it, and `aegra serve` runs on it through
    uvicorn's `loop="auto"`): every callback and socket read of the runs a worker executes costs less on it than on
    asyncio's own loop. asyncio's loop where uvloop is absent (Windows)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _main(settings: Settings, config: AegraConfig, health: tuple[str, int] | None) -> None:
    from aegra.process import build_lifespan
    from aegra.worker import run_worker

    lifespan, state = build_lifespan(settings, config, http=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_worker(lifespan, state, stop, health=health, on_ready=typer.echo)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
