"""Derive driver-specific URLs from the one DATABASE_URL setting."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aegra.errors import ConfigError

ACCEPTED_SCHEMES = frozenset(
    {"postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"}
)

# libpq query parameters asyncpg takes under another name; the ones it does not take at all (application_name,
# connect_timeout, ...) are dropped from the asyncpg URL only. asyncpg reads PGSSLROOTCERT & co. from the environment.
_LIBPQ_TO_ASYNCPG = {"sslmode": "ssl"}
_ASYNCPG_PARAMS = frozenset(
    {"host", "port", "ssl", "command_timeout", "target_session_attrs", "prepared_statement_cache_size"}
)
_ASYNCPG_TO_LIBPQ = {"ssl": "sslmode"}
_ASYNCPG_ONLY = frozenset({"command_timeout", "prepared_statement_cache_size"})


def _split(url: str) -> tuple[str, str, str]:
    """(scheme, everything before `?`, query) of a DATABASE_URL, validating the scheme."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in ACCEPTED_SCHEMES:
        shown = f"{scheme}://..." if sep else "a value without a scheme"
        raise ConfigError(
            f"DATABASE_URL must start with postgresql://, postgres:// or postgresql+asyncpg://, got {shown}"
        )
    base, _, query = rest.partition("?")
    return scheme.lower(), base, query


def _with_query(base: str, params: list[tuple[str, str]], scheme: str) -> str:
    url = f"{scheme}://{base}"
    return f"{url}?{urlencode(params, safe='/')}" if params else url


def asyncpg_url(url: str) -> str:
    """SQLAlchemy URL for the asyncpg driver (metadata pool): libpq-only query parameters are translated or dropped."""
    _, base, query = _split(url)
    params = [(_LIBPQ_TO_ASYNCPG.get(key, key), value) for key, value in parse_qsl(query, keep_blank_values=True)]
    return _with_query(base, [(key, value) for key, value in params if key in _ASYNCPG_PARAMS], "postgresql+asyncpg")


def psycopg_conninfo(url: str) -> str:
    """libpq connection URL for psycopg (LangGraph checkpointer and store pool)."""
    _, base, query = _split(url)
    params = [
        (_ASYNCPG_TO_LIBPQ.get(key, key), value)
        for key, value in parse_qsl(query, keep_blank_values=True)
        if key not in _ASYNCPG_ONLY
    ]
    return _with_query(base, params, "postgresql")


def with_database(url: str, database: str) -> str:
    """Same server, another database name."""
    parts = urlsplit(psycopg_conninfo(url))
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def redact(url: str) -> str:
    """The URL with its password hidden, for logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
