"""The `aegra` command: serve, dev, init, migrate, version."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from aegra import __version__
from aegra.errors import ConfigError

app = typer.Typer(
    name="aegra",
    help="Aegra: a self-hosted Agent Protocol server for LangGraph graphs, on your own PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
)
migrate_app = typer.Typer(help="Apply or inspect database migrations.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $AEGRA_CONFIG, ./aegra.json, ./langgraph.json)."),
]
EnvFileOption = Annotated[Path | None, typer.Option("--env-file", "-e", help="A .env file to load first.")]


def _load_env(env_file: Path | None) -> None:
    from dotenv import load_dotenv

    if env_file is not None:
        if not env_file.is_file():
            raise typer.BadParameter(f"{env_file} does not exist", param_hint="--env-file")
        load_dotenv(env_file, override=False)
        return
    load_dotenv(Path.cwd() / ".env", override=False)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _run_server(
    *, host: str, port: int, config: Path | None, env_file: Path | None, reload: bool, workers: int
) -> None:
    import uvicorn

    from aegra.config import load_config
    from aegra.db.embedded import EmbeddedPostgres
    from aegra.observability.logging import configure_logging
    from aegra.settings import Settings

    _load_env(env_file)
    try:
        settings = Settings.from_env()
        loaded = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    configure_logging(settings.log_level, json_logs=settings.log_json)
    os.environ["AEGRA_CONFIG"] = str(Path(loaded.base_dir) / _config_name(config, loaded.base_dir))
    embedded: EmbeddedPostgres | None = None
    if settings.database_url is None:
        started = time.perf_counter()
        embedded = EmbeddedPostgres(settings.embedded_pgdata)
        os.environ["DATABASE_URL"] = embedded.start()
        typer.echo(f"Embedded PostgreSQL ready in {time.perf_counter() - started:.1f}s ({embedded.pgdata})")
    display_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"API: http://{display_host}:{port}   Docs: http://{display_host}:{port}/docs")
    try:
        uvicorn.run(
            "aegra.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            reload=reload,
            reload_dirs=[loaded.base_dir] if reload else None,
            workers=None if reload else workers,
            log_config=None,
            loop="auto",
            http="auto",
            timeout_graceful_shutdown=10,
        )
    finally:
        if embedded is not None:
            embedded.stop()


def _config_name(explicit: Path | None, base_dir: str) -> str:
    from aegra.config import resolve_config_path

    return resolve_config_path(explicit).relative_to(Path(base_dir)).as_posix()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.", envvar="HOST")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port to listen on.", envvar="PORT")] = 2026,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development only).")] = False,
    config: ConfigOption = None,
    env_file: EnvFileOption = None,
) -> None:
    """Serve the graphs in aegra.json. Without DATABASE_URL an embedded PostgreSQL starts under ./.aegra/."""
    _run_server(host=host, port=port, config=config, env_file=env_file, reload=reload, workers=workers)


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", envvar="PORT")] = 2026,
    reload: Annotated[bool, typer.Option(help="Restart when files change.")] = True,
    config: ConfigOption = None,
    env_file: EnvFileOption = None,
) -> None:
    """Development server: localhost, reload on file change, embedded PostgreSQL unless DATABASE_URL is set."""
    _run_server(host=host, port=port, config=config, env_file=env_file, reload=reload, workers=1)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")] = Path("."),
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
    typer.echo(f"\nNext: cd {directory} && aegra dev")


async def _with_engine(action: str, revision: str) -> str | None:
    from aegra.db import migrate
    from aegra.db.database import Database
    from aegra.db.embedded import EmbeddedPostgres
    from aegra.settings import Settings

    settings = Settings.from_env()
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.embedded_pgdata)
        url = embedded.start()
    database = Database(url, settings)
    try:
        if action == "upgrade":
            await database.open()
        return await migrate.current_revision(database.engine)
    finally:
        await database.close()
        if embedded is not None:
            embedded.stop()


@migrate_app.command("upgrade")
def migrate_upgrade(env_file: EnvFileOption = None) -> None:
    """Apply every pending migration (Aegra's tables, LangGraph's checkpointer and store)."""
    _load_env(env_file)
    revision = asyncio.run(_with_engine("upgrade", "head"))
    typer.echo(f"Database at revision {revision}")


@migrate_app.command("current")
def migrate_current(env_file: EnvFileOption = None) -> None:
    """Print the revision the database is at."""
    _load_env(env_file)
    revision = asyncio.run(_with_engine("current", "head"))
    typer.echo(revision or "none (no migrations applied)")


@app.command()
def version() -> None:
    """Print the Aegra version."""
    typer.echo(f"aegra {__version__}")
