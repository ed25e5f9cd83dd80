"""Item expiry: the store's TTL settings from `store.ttl`, and the sweeper that deletes expired items.

The sweeper is `AsyncPostgresStore`'s own (one `DELETE ... WHERE expires_at < now()` per interval); it runs in
every process, which is safe: concurrent deletes of the same rows are harmless. Per-item `ttl` works without any
`store.ttl` block; the block only sets a default TTL, the read-refresh default and the sweep interval.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from langgraph.store.base import TTLConfig
from langgraph.store.postgres.aio import AsyncPostgresStore

from aegra.config import AegraConfig

logger = structlog.get_logger(__name__)

DEFAULT_SWEEP_INTERVAL_MINUTES = 5.0
SWEEPER_STOP_TIMEOUT_SECONDS = 5.0


def build_ttl_config(config: AegraConfig) -> TTLConfig:
    """The `ttl` argument of `AsyncPostgresStore` from `store.ttl`; expired items are hidden even before a sweep."""
    ttl = config.store.ttl if config.store is not None else None
    if ttl is None:
        return _ttl_config(
            refresh_on_read=True, default_ttl=None, sweep_interval_minutes=DEFAULT_SWEEP_INTERVAL_MINUTES
        )
    if ttl.default_ttl is not None and ttl.default_ttl <= 0:
        raise config.error("store.ttl.default_ttl", f"must be a positive number of minutes, got {ttl.default_ttl}")
    if ttl.sweep_interval_minutes <= 0:
        interval = ttl.sweep_interval_minutes
        raise config.error("store.ttl.sweep_interval_minutes", f"must be a positive number of minutes, got {interval}")
    return _ttl_config(
        refresh_on_read=ttl.refresh_on_read,
        default_ttl=ttl.default_ttl,
        sweep_interval_minutes=ttl.sweep_interval_minutes,
    )


def _ttl_config(*, refresh_on_read: bool, default_ttl: float | None, sweep_interval_minutes: float) -> TTLConfig:
    return TTLConfig(
        refresh_on_read=refresh_on_read,
        default_ttl=default_ttl,
        sweep_interval_minutes=sweep_interval_minutes,  # type: ignore[typeddict-item]  # typed int, any number works
        omit_expired=True,
    )


@asynccontextmanager
async def ttl_sweeper(store: AsyncPostgresStore) -> AsyncIterator[None]:
    """Run the store's TTL sweeper for the duration of the block."""
    await store.start_ttl_sweeper()
    try:
        yield
    finally:
        stopped = await store.stop_ttl_sweeper(timeout=SWEEPER_STOP_TIMEOUT_SECONDS)
        if not stopped:
            logger.warning("store ttl sweeper did not stop in time")
