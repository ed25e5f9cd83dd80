"""Fixtures for tests that drive Aegra's database layer directly (no server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aegra.db.database import Database
from aegra.settings import Settings


@pytest.fixture(scope="module")
async def database(database_url: str) -> AsyncIterator[Database]:
    """The module's fresh database, migrated, with both pools open."""
    db = Database(database_url, Settings(database_url=database_url))
    await db.open()
    yield db
    await db.close()
