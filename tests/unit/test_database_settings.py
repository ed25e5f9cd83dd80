"""The database availability settings: how long a request waits for a connection, and pre-ping."""

from __future__ import annotations

from aegra.settings import Settings


def test_defaults_wait_30_seconds_and_skip_the_pre_ping() -> None:
    settings = Settings.from_env({})

    assert settings.db_connect_timeout_seconds == 30.0
    assert settings.db_pool_pre_ping is False


def test_values_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"DB_CONNECT_TIMEOUT_SECONDS": "2.5", "DB_POOL_PRE_PING": "true"})

    assert settings.db_connect_timeout_seconds == 2.5
    assert settings.db_pool_pre_ping is True
