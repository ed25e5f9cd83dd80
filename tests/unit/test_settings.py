"""Environment settings: defaults, parsing, clear errors, and the documentation that lists every variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aegra import settings as settings_module
from aegra.errors import ConfigError
from aegra.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _variables_read_by_settings() -> set[str]:
    source = Path(settings_module.__file__).read_text()
    return set(re.findall(r'get\("([A-Z][A-Z0-9_]*)"\)', source))


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})

    assert settings.database_url is None
    assert settings.host == "127.0.0.1"
    assert settings.port == 2026
    assert settings.allow_unauthenticated is False
    assert settings.stream_subscriber_queue_max == 4096
    assert settings.embedded_pgdata == Path(".aegra") / "pgdata"
    assert settings.run_migrations is True


def test_values_are_read_and_converted() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u:p@db:5432/aegra",
            "PORT": "8123",
            "HOST": "0.0.0.0",
            "AEGRA_ALLOW_UNAUTHENTICATED": "true",
            "STREAM_SUBSCRIBER_QUEUE_MAX": "64",
            "N_JOBS_PER_WORKER": "3",
            "LOG_LEVEL": "debug",
            "LOG_JSON": "yes",
            "AEGRA_RUN_MIGRATIONS": "false",
            "MAX_BODY_BYTES": "2048",
        }
    )

    assert settings.database_url == "postgresql://u:p@db:5432/aegra"
    assert settings.port == 8123
    assert settings.host == "0.0.0.0"
    assert settings.allow_unauthenticated is True
    assert settings.stream_subscriber_queue_max == 64
    assert settings.n_jobs_per_worker == 3
    assert settings.log_level == "DEBUG"
    assert settings.log_json is True
    assert settings.run_migrations is False
    assert settings.max_body_bytes == 2048


def test_empty_values_count_as_unset() -> None:
    settings = Settings.from_env({"DATABASE_URL": "", "PORT": ""})

    assert settings.database_url is None
    assert settings.port == 2026


def test_embedded_pgdata_follows_data_dir_unless_set() -> None:
    under_data_dir = Settings.from_env({"AEGRA_DATA_DIR": "/var/lib/aegra"})
    explicit = Settings.from_env({"AEGRA_DATA_DIR": "/var/lib/aegra", "AEGRA_PGDATA": "/srv/pg"})

    assert under_data_dir.embedded_pgdata == Path("/var/lib/aegra/pgdata")
    assert explicit.embedded_pgdata == Path("/srv/pg")


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("PORT", "http", "is not an integer"),
        ("PORT", "0", "must be >= 1"),
        ("N_JOBS_PER_WORKER", "0", "must be >= 1"),
        ("LOG_JSON", "maybe", "is not a boolean"),
        ("AEGRA_RUN_MIGRATIONS", "2", "is not a boolean"),
        ("DB_CONNECT_TIMEOUT_SECONDS", "soon", "is not a number"),
        ("DB_CONNECT_TIMEOUT_SECONDS", "0", "must be >= 0.1"),
        ("DB_POOL_PRE_PING", "sometimes", "is not a boolean"),
        ("MAX_BODY_BYTES", "10", "must be >= 1024"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({name: value})

    assert name in str(excinfo.value)
    assert problem in str(excinfo.value)


def test_settings_are_immutable() -> None:
    settings = Settings.from_env({})

    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize("document", [".env.example", "docs/environment.md"])
def test_every_setting_is_documented(document: str) -> None:
    text = (REPO_ROOT / document).read_text()

    missing = sorted(name for name in _variables_read_by_settings() if not re.search(rf"\b{name}\b", text))

    assert _variables_read_by_settings(), "found no variables in settings.py: the pattern needs updating"
    assert missing == [], f"add these settings to {document}"
