"""End-to-end fixtures shared by every module here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.e2e.durable_servers import RUNNING, stop_stray_servers


@pytest.fixture(autouse=True)
def no_stray_servers() -> Iterator[None]:
    """A test's own `aegra serve` processes end with it, even when a timeout cut its cleanup short."""
    before = set(RUNNING)
    yield
    stop_stray_servers(keep=before)


@pytest.fixture
async def anonymous(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client with no credentials, on the module's server."""
    async with httpx.AsyncClient(base_url=server_url) as http:
        yield http
