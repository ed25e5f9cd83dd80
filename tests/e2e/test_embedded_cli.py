"""`aegra serve` on an embedded data folder it cannot use: exit 1 with the folder and the way out, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aegra.cli import app

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _foreign_cluster(pgdata: Path) -> None:
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("15\n")


def _unrelated_files(pgdata: Path) -> None:
    pgdata.mkdir()
    (pgdata / "thesis.docx").write_text("keep me")


def _a_file(pgdata: Path) -> None:
    pgdata.write_text("oops")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (_foreign_cluster, "made by PostgreSQL '15'"),
        (_unrelated_files, "holds no PostgreSQL cluster"),
        (_a_file, "is a file, not a folder"),
    ],
    ids=["other-major", "not-a-cluster", "a-file"],
)
def test_serve_refuses_a_data_folder_it_cannot_use(tmp_path: Path, make: Callable[[Path], None], problem: str) -> None:
    pgdata = tmp_path / "pgdata"
    make(pgdata)

    result = runner.invoke(
        app,
        ["serve", "--config", str(REPO_ROOT / "aegra.json")],
        env={"DATABASE_URL": "", "AEGRA_PGDATA": str(pgdata)},
    )

    assert result.exit_code == 1, result.output
    assert str(pgdata) in result.output
    assert problem in result.output
    assert "Traceback" not in result.output
    assert pgdata.exists()  # nothing of the user's was removed
    if pgdata.is_dir():
        assert sorted(entry.name for entry in pgdata.iterdir()) in (["PG_VERSION"], ["thesis.docx"])
