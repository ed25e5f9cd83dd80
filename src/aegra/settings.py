"""Environment settings: one frozen object, read once at startup (a `.env` file is honoured)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from aegra.errors import ConfigError

_N = TypeVar("_N", int, float)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"Environment variable {name}={raw!r} is not a boolean (use true/false).")


def _parse_number(name: str, raw: str, kind: type[_N], *, minimum: _N) -> _N:
    try:
        value = kind(raw)
    except ValueError as exc:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"Environment variable {name}={raw!r} is not {what}.") from exc
    if value < minimum:
        raise ConfigError(f"Environment variable {name}={value} must be >= {minimum}.")
    return value


def _parse_float(name: str, raw: str, *, minimum: float) -> float:
    return _parse_number(name, raw, float, minimum=minimum)


def _parse_int(name: str, raw: str, *, minimum: int = 0) -> int:
    return _parse_number(name, raw, int, minimum=minimum)


OTEL_TARGETS = ("OTLP", "CONSOLE", "LANGFUSE", "PHOENIX")


def _parse_log_format(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("json", "console"):
        raise ConfigError(f"Environment variable LOG_FORMAT={raw!r} must be 'json' or 'console'.")
    return value == "json"


def _parse_otel_targets(raw: str) -> tuple[str, ...]:
    targets = tuple(dict.fromkeys(part.strip().upper() for part in raw.split(",") if part.strip()))
    unknown = [target for target in targets if target not in OTEL_TARGETS]
    if unknown:
        raise ConfigError(f"OTEL_TARGETS has unknown targets {unknown}; choose from {list(OTEL_TARGETS)}.")
    return targets


def _text(_: str, raw: str) -> str:
    return raw


def _upper(_: str, raw: str) -> str:
    return raw.upper()


def _path(_: str, raw: str) -> Path:
    return Path(raw)


def _int_at_least(minimum: int) -> Callable[[str, str], int]:
    return lambda name, raw: _parse_int(name, raw, minimum=minimum)


def _float_at_least(minimum: float) -> Callable[[str, str], float]:
    return lambda name, raw: _parse_float(name, raw, minimum=minimum)


# (environment variable, Settings field, parser) for the settings that need no more than one variable each; the
# later of two entries for the same field wins (LOG_FORMAT over LOG_JSON).
_GENERAL: tuple[tuple[str, str, Callable[[str, str], object]], ...] = (
    ("DATABASE_URL", "database_url", _text),
    ("REDIS_URL", "redis_url", _text),
    ("AEGRA_CONFIG", "config_path", _text),
    ("HOST", "host", _text),
    ("PORT", "port", _int_at_least(1)),
    ("AEGRA_DATA_DIR", "data_dir", _path),
    ("AEGRA_PGDATA", "pgdata", _path),
    ("N_JOBS_PER_WORKER", "n_jobs_per_worker", _int_at_least(1)),
    ("RUN_QUEUE_MAX", "run_queue_max", _int_at_least(0)),
    ("CRON_POLL_SECONDS", "cron_poll_seconds", _float_at_least(0.05)),
    ("BG_JOB_TIMEOUT_SECS", "bg_job_timeout_secs", _int_at_least(1)),
    ("LOG_LEVEL", "log_level", _upper),
    ("LOG_JSON", "log_json", _parse_bool),
    ("LOG_FORMAT", "log_json", lambda _, raw: _parse_log_format(raw)),
    ("ENABLE_PROMETHEUS_METRICS", "metrics_enabled", _parse_bool),
    ("OTEL_TARGETS", "otel_targets", lambda _, raw: _parse_otel_targets(raw)),
    ("OTEL_SERVICE_NAME", "otel_service_name", _text),
    ("SQLALCHEMY_POOL_SIZE", "db_pool_size", _int_at_least(1)),
    ("SQLALCHEMY_MAX_OVERFLOW", "db_max_overflow", _int_at_least(0)),
    ("LANGGRAPH_MAX_POOL_SIZE", "langgraph_pool_max_size", _int_at_least(1)),
    ("DB_CONNECT_TIMEOUT_SECONDS", "db_connect_timeout_seconds", _float_at_least(0.1)),
    ("DB_POOL_PRE_PING", "db_pool_pre_ping", _parse_bool),
    ("MAX_BODY_BYTES", "max_body_bytes", _int_at_least(1024)),
    ("AEGRA_RUN_MIGRATIONS", "run_migrations", _parse_bool),
    ("AEGRA_ALLOW_UNAUTHENTICATED", "allow_unauthenticated", _parse_bool),
    ("STREAM_SUBSCRIBER_QUEUE_MAX", "stream_subscriber_queue_max", _int_at_least(1)),
    ("RUN_START_YIELD_SECONDS", "run_start_yield_seconds", _float_at_least(0.0)),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Process-wide settings taken from the environment."""

    database_url: str | None = None
    redis_url: str | None = None
    config_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 2026
    data_dir: Path = Path(".aegra")
    pgdata: Path | None = None
    # Runs mostly wait on models and tools (async I/O), so one process can keep many in flight; lower it for
    # CPU-heavy graphs. None: derived from the process's memory (`aegra.runs.capacity`). langgraph-api's default is 10.
    n_jobs_per_worker: int | None = None
    # Ready pending runs beyond which a process that executes all it can answers new runs 503 (0: no limit).
    run_queue_max: int = 50_000
    # How long a claimed run waits at most to start while requests creating runs are in flight (`runs.intake`).
    run_start_yield_seconds: float = 2.0
    bg_job_timeout_secs: int = 3600
    cron_poll_seconds: float = 5.0
    log_level: str = "INFO"
    log_json: bool = False
    metrics_enabled: bool = True
    otel_targets: tuple[str, ...] = ()
    otel_service_name: str = "aegra"
    db_pool_size: int = 10
    db_max_overflow: int = 20
    langgraph_pool_max_size: int = 20
    db_connect_timeout_seconds: float = 30.0
    db_pool_pre_ping: bool = False
    max_body_bytes: int = 10 * 1024 * 1024
    allow_unauthenticated: bool = False
    stream_subscriber_queue_max: int = 4096
    run_migrations: bool = True
    workers_enabled: bool = True  # false: an API-only `aegra serve --no-workers` process
    health_port: int | None = None  # `aegra worker`'s /ok and /health
    redis_channel_prefix: str | None = None  # None: named after the database (see `channel_prefix`)
    run_lease_seconds: float = 30.0
    run_heartbeat_seconds: float = 10.0
    run_reaper_seconds: float = 10.0
    run_max_attempts: int = 3
    runs_batch_max: int = 1000
    run_shutdown_grace_seconds: float = 10.0
    run_events_ttl_seconds: float = 3600.0
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 3
    webhook_allowed_hosts: tuple[str, ...] = ()
    webhook_require_https: bool = False
    webhook_block_private: bool = True
    webhook_max_concurrency: int = 10

    @property
    def embedded_pgdata(self) -> Path:
        """Folder of the embedded PostgreSQL cluster used when DATABASE_URL is unset."""
        return self.pgdata if self.pgdata is not None else self.data_dir / "pgdata"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (defaults to `os.environ`)."""
        source = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = source.get(name)
            return value if value not in (None, "") else None

        kwargs: dict[str, object] = {
            field: parse(name, raw) for name, field, parse in _GENERAL if (raw := get(name)) is not None
        }
        kwargs |= _run_settings(get) | _role_settings(get)
        return _checked(cls(**kwargs))  # type: ignore[arg-type]  # each value is parsed for its field above


def _run_settings(get: Callable[[str], str | None]) -> dict[str, object]:
    """Durable runs: leases, recovery, kept events and webhooks."""
    kwargs: dict[str, object] = {}
    seconds = (
        ("run_lease_seconds", "RUN_LEASE_SECONDS", get("RUN_LEASE_SECONDS"), 0.5),
        ("run_heartbeat_seconds", "RUN_HEARTBEAT_SECONDS", get("RUN_HEARTBEAT_SECONDS"), 0.1),
        ("run_reaper_seconds", "RUN_REAPER_SECONDS", get("RUN_REAPER_SECONDS"), 0.1),
        ("run_shutdown_grace_seconds", "RUN_SHUTDOWN_GRACE_SECONDS", get("RUN_SHUTDOWN_GRACE_SECONDS"), 0.0),
        ("run_events_ttl_seconds", "RUN_EVENTS_TTL_SECONDS", get("RUN_EVENTS_TTL_SECONDS"), 0.0),
        ("webhook_timeout_seconds", "WEBHOOK_TIMEOUT_SECONDS", get("WEBHOOK_TIMEOUT_SECONDS"), 0.1),
    )
    for field_name, name, raw, minimum in seconds:
        if raw is not None:
            kwargs[field_name] = _parse_float(name, raw, minimum=minimum)
    if (attempts := get("RUN_MAX_ATTEMPTS")) is not None:
        kwargs["run_max_attempts"] = _parse_int("RUN_MAX_ATTEMPTS", attempts, minimum=1)
    if (batch := get("RUNS_BATCH_MAX")) is not None:
        kwargs["runs_batch_max"] = _parse_int("RUNS_BATCH_MAX", batch, minimum=1)
    if (attempts := get("WEBHOOK_MAX_ATTEMPTS")) is not None:
        kwargs["webhook_max_attempts"] = _parse_int("WEBHOOK_MAX_ATTEMPTS", attempts, minimum=1)
    if (hosts := get("WEBHOOK_ALLOWED_HOSTS")) is not None:
        kwargs["webhook_allowed_hosts"] = tuple(host.strip().lower() for host in hosts.split(",") if host.strip())
    if (https := get("WEBHOOK_REQUIRE_HTTPS")) is not None:
        kwargs["webhook_require_https"] = _parse_bool("WEBHOOK_REQUIRE_HTTPS", https)
    if (private := get("WEBHOOK_BLOCK_PRIVATE")) is not None:
        kwargs["webhook_block_private"] = _parse_bool("WEBHOOK_BLOCK_PRIVATE", private)
    if (concurrency := get("WEBHOOK_MAX_CONCURRENCY")) is not None:
        kwargs["webhook_max_concurrency"] = _parse_int("WEBHOOK_MAX_CONCURRENCY", concurrency, minimum=1)
    return kwargs


def _role_settings(get: Callable[[str], str | None]) -> dict[str, object]:
    """What this process does besides the API (`aegra serve --no-workers`, `aegra worker`), and its Redis channels."""
    kwargs: dict[str, object] = {}
    if (workers := get("AEGRA_WORKERS")) is not None:
        kwargs["workers_enabled"] = _parse_bool("AEGRA_WORKERS", workers)
    if (health_port := get("AEGRA_HEALTH_PORT")) is not None:
        kwargs["health_port"] = _parse_int("AEGRA_HEALTH_PORT", health_port)
    if (prefix := get("REDIS_CHANNEL_PREFIX")) is not None:
        kwargs["redis_channel_prefix"] = prefix
    return kwargs


def _checked(settings: Settings) -> Settings:
    """Settings that only make sense together."""
    if settings.run_heartbeat_seconds >= settings.run_lease_seconds:
        raise ConfigError(
            f"RUN_HEARTBEAT_SECONDS={settings.run_heartbeat_seconds:g} must be shorter than "
            f"RUN_LEASE_SECONDS={settings.run_lease_seconds:g}, or leases expire while their runs execute."
        )
    return settings
