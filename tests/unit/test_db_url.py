"""One DATABASE_URL, three spellings accepted, the right URL for each driver."""

from __future__ import annotations

import pytest

from aegra.db.url import asyncpg_url, psycopg_conninfo, redact, with_database
from aegra.errors import ConfigError


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:secret@db:5432/aegra",
        "postgres://user:secret@db:5432/aegra",
        "postgresql+asyncpg://user:secret@db:5432/aegra",
        "postgresql+psycopg://user:secret@db:5432/aegra",
    ],
)
def test_every_accepted_scheme_gives_both_driver_urls(url: str) -> None:
    assert asyncpg_url(url) == "postgresql+asyncpg://user:secret@db:5432/aegra"
    assert psycopg_conninfo(url) == "postgresql://user:secret@db:5432/aegra"


def test_embedded_socket_url_keeps_its_host_folder() -> None:
    url = "postgresql://postgres:@/postgres?host=/work/.aegra/pgdata"

    assert asyncpg_url(url) == "postgresql+asyncpg://postgres:@/postgres?host=/work/.aegra/pgdata"
    assert psycopg_conninfo(url) == url


def test_libpq_parameters_are_translated_for_asyncpg() -> None:
    url = "postgresql://u:p@db/aegra?sslmode=require&application_name=aegra&connect_timeout=5"

    assert asyncpg_url(url) == "postgresql+asyncpg://u:p@db/aegra?ssl=require"
    assert psycopg_conninfo(url) == url


def test_asyncpg_parameters_are_translated_for_psycopg() -> None:
    url = "postgresql+asyncpg://u:p@db/aegra?ssl=require&command_timeout=30"

    assert psycopg_conninfo(url) == "postgresql://u:p@db/aegra?sslmode=require"
    assert asyncpg_url(url) == url


@pytest.mark.parametrize("url", ["mysql://u:p@db/aegra", "sqlite:///aegra.db", "db:5432/aegra", ""])
def test_other_databases_are_rejected_without_echoing_the_url(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL must start with postgresql://") as excinfo:
        asyncpg_url(url)

    assert "p@db" not in str(excinfo.value)


def test_with_database_swaps_only_the_database_name() -> None:
    assert with_database("postgres://u:p@db:5432/aegra?sslmode=require", "t_1") == (
        "postgresql://u:p@db:5432/t_1?sslmode=require"
    )
    assert with_database("postgresql://postgres:@/postgres?host=/x/pgdata", "t_2") == (
        "postgresql://postgres:@/t_2?host=/x/pgdata"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://user:s3cret@db:5432/aegra", "postgresql://user:***@db:5432/aegra"),
        ("postgresql://postgres:@/postgres?host=/x", "postgresql://postgres:@/postgres?host=/x"),
        ("postgresql://db/aegra", "postgresql://db/aegra"),
    ],
)
def test_redact_hides_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown
