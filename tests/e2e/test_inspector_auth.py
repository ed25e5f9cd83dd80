"""The inspector with auth on: the page loads without credentials, asks for a token, then shows only what that
user may see; the public `/inspector` path opens no API route."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from langgraph_sdk import get_client

from aegra.config import AegraConfig, load_config
from tests.conftest import REPO_ROOT
from tests.e2e.browser import Page, browser, page, playwright_api, screenshots

expect = playwright_api.expect
__all__ = ["browser", "page", "screenshots"]  # fixtures used by the tests below

AUTH_CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.auth.json"


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    return load_config(AUTH_CONFIG)


async def _raw_status(server_url: str, method: str, path: str) -> int:
    """Send `path` byte for byte (HTTP clients fold `..` before sending), without credentials; the status code."""
    parts = urlsplit(server_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = f"{method} {path} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
        writer.write(f"{head}content-length: 2\r\nconnection: close\r\n\r\n{{}}".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=60)
        return int(status_line.split()[1])
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize(
    "path",
    ["/inspector/../threads/search", "/inspector/%2e%2e/threads/search", "/inspector/..%2fthreads/search"],
)
async def test_inspector_path_does_not_open_api_routes(server_url: str, path: str) -> None:
    status = await _raw_status(server_url, "POST", path)

    assert status in (401, 404, 405)


async def test_static_page_loads_without_credentials(server_url: str) -> None:
    assert await _raw_status(server_url, "GET", "/inspector/") == 200
    assert await _raw_status(server_url, "GET", "/inspector/inspector.js") == 200


async def test_page_asks_for_a_token_then_shows_only_that_users_threads(
    page: Page, server_url: str, screenshots: Path
) -> None:
    alice = get_client(url=server_url, api_key=None, headers={"Authorization": "Bearer token-a"})
    bob = get_client(url=server_url, api_key=None, headers={"Authorization": "Bearer token-b"})
    mine = await alice.threads.create()
    theirs = await bob.threads.create()
    await page.goto("/inspector/#/threads")

    await expect(page.get_by_test_id("signin")).to_be_visible()
    await page.screenshot(path=screenshots / "sign-in.png")
    await page.get_by_test_id("auth-token").fill("token-a")
    await page.get_by_test_id("signin-submit").click()

    await expect(page.locator(f"[data-thread='{mine['thread_id']}']")).to_have_count(1)
    assert await page.locator(f"[data-thread='{theirs['thread_id']}']").count() == 0
    await expect(page.get_by_test_id("signout")).to_be_visible()


async def test_wrong_token_is_refused_with_the_servers_message(page: Page) -> None:
    await page.goto("/inspector/#/threads")
    await page.get_by_test_id("auth-token").fill("not-a-token")
    await page.get_by_test_id("signin-submit").click()

    await expect(page.get_by_test_id("signin")).to_contain_text("Invalid token")
