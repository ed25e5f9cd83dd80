"""The `aegra` command: serve, dev, worker, init, migrate, version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aegra import __version__
from aegra.cli.common import fail
from aegra.cli.migrate import migrate_app
from aegra.cli.serve import dev, serve
from aegra.cli.worker import worker

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
app.add_typer(migrate_app, name="migrate")
app.command()(serve)
app.command()(dev)
app.command()(worker)


@app.callback(invoke_without_command=True)
def main(
    show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Aegra: a self-hosted Agent Protocol server for LangGraph graphs, on your own PostgreSQL."""
    if show_version:
        typer.echo(f"aegra {__version__}")
        raise typer.Exit()


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
        raise fail(f"{exc} already exists (use --force to overwrite)") from None
    for path in written:
        typer.echo(f"created {path}")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    typer.echo(f"\nNext: {where}aegra dev")


@app.command()
def version() -> None:
    """Print the Aegra version."""
    typer.echo(f"aegra {__version__}")
