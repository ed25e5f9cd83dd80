"""`aegra migrate upgrade|current`: Aegra's tables, LangGraph's checkpointer and store."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aegra.cli.common import ConfigOption, EnvFileOption, GracefulExit, StopSignals, database_for, fail, prepare
from aegra.errors import ConfigError

if TYPE_CHECKING:
    from aegra.config import AegraConfig
    from aegra.settings import Settings

migrate_app = typer.Typer(
    help="Apply or inspect database migrations (Aegra's tables, LangGraph's checkpointer and store).",
    no_args_is_help=True,
)


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

    settings, loaded = prepare(config, env_file, require_config=False)
    signals = StopSignals()
    try:
        with signals.installed(), database_for(settings, signals) as database_url:
            url = database_url()
            try:
                return asyncio.run(_migrate(settings, url, loaded, upgrade=upgrade))
            except ConfigError as exc:
                raise fail(str(exc)) from None
            except (OSError, SQLAlchemyError, PsycopgError, PoolTimeout) as exc:
                raise fail(f"database {redact(url)}: {exc}") from None
    except GracefulExit:
        raise fail("interrupted") from None


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
