"""Derive driver-specific URLs from the one DATABASE_URL setting."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from aegra.errors import ConfigError

_ACCEPTED_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"}


def _split(url: str) -> tuple[str, str]:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _ACCEPTED_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL must start with postgresql://, postgres:// or postgresql+asyncpg://, got {url.split('://')[0]!r}"
        )
    return scheme, rest


def asyncpg_url(url: str) -> str:
    """SQLAlchemy URL for the asyncpg driver (metadata pool)."""
    _, rest = _split(url)
    return f"postgresql+asyncpg://{rest}"


def psycopg_conninfo(url: str) -> str:
    """libpq connection URL for psycopg (LangGraph checkpointer and store pool)."""
    _, rest = _split(url)
    return f"postgresql://{rest}"


def with_database(url: str, database: str) -> str:
    """Same server, another database name."""
    parts = urlsplit(psycopg_conninfo(url))
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def redact(url: str) -> str:
    """The URL with its password hidden, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
