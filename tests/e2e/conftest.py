"""End-to-end fixtures shared by every module here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.durable_servers import RUNNING, stop_stray_servers


@pytest.fixture(autouse=True)
def no_stray_servers() -> Iterator[None]:
    """A test's own `aegra serve` processes end with it, even when a timeout cut its cleanup short."""
    before = set(RUNNING)
    yield
    stop_stray_servers(keep=before)
