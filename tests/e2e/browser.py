"""Browser fixtures for the inspector tests: Debian's Chromium driven by Playwright (never a downloaded browser).

Import `browser` and `page` into a test module. Without a system Chromium the tests skip with the reason;
`AEGRA_INSPECTOR_SCREENSHOTS=docs/images/inspector` keeps the screenshots for the docs (else a temp folder).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.async_api", reason="the dev dependency `playwright` is not installed")
Browser = playwright_api.Browser
Page = playwright_api.Page

WAIT_MS = 60_000  # generous: the machine may be heavily loaded


def system_chromium() -> str | None:
    """The distribution's Chromium (`apt-get install chromium`), if this machine has one."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found is not None:
            return found
    return None


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = system_chromium()
    if executable is None:
        pytest.skip("no system Chromium on PATH (apt-get install chromium); the inspector browser tests need one")
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, server_url: str) -> AsyncIterator[Page]:
    """A fresh browser tab (its own storage) whose relative URLs resolve against the module's server."""
    context = await browser.new_context(base_url=server_url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    playwright_api.expect.set_options(timeout=WAIT_MS)
    tab = await context.new_page()
    yield tab
    await context.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save their screenshots."""
    configured = os.environ.get("AEGRA_INSPECTOR_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("inspector-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
