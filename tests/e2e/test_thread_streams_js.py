"""The released JS SDK's thread stream (`client.threads.stream` of `@langchain/langgraph-sdk`) against a real
server, through node. Skipped, saying why, when node or npm is missing or the package cannot be installed;
LANGGRAPH_JS_SDK_DIR may name a directory where it is installed already."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

JS_SDK = "@langchain/langgraph-sdk@1.15.0"  # the first release line with the thread stream client
SCRIPT = REPO_ROOT / "tests" / "e2e" / "js" / "thread_stream.mjs"
TOKEN_TEXT = "".join(f"t{index} " for index in range(20))


async def _run(*command: str, cwd: Path, within: float) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), within)
    return process.returncode or 0, output.decode()


@pytest.fixture(scope="module")
async def js_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where `import "@langchain/langgraph-sdk"` resolves, holding the test script."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the JS SDK's thread stream cannot be tested")
    given = os.environ.get("LANGGRAPH_JS_SDK_DIR")
    directory = Path(given) if given else tmp_path_factory.mktemp("js-sdk")
    if not (directory / "node_modules" / "@langchain" / "langgraph-sdk").is_dir():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed and LANGGRAPH_JS_SDK_DIR is unset: cannot get the JS SDK")
        code, output = await _run("npm", "install", "--no-audit", "--no-fund", JS_SDK, cwd=directory, within=300)
        if code != 0:
            pytest.skip(f"could not install {JS_SDK} (offline?): {output[-500:]}")
    shutil.copy(SCRIPT, directory / SCRIPT.name)
    return directory


@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_the_js_sdk_streams_a_thread(js_sdk: Path, server_url: str, transport: str) -> None:
    _, version = await _run("node", "--version", cwd=js_sdk, within=30)
    flags = ["--experimental-websocket"] if int(version.strip().lstrip("v").split(".")[0]) < 22 else []  # node 20

    code, output = await _run("node", *flags, SCRIPT.name, server_url, "tokens", transport, cwd=js_sdk, within=120)

    assert code == 0, output
    result = json.loads(output.strip().splitlines()[-1])
    assert result["texts"] == [TOKEN_TEXT]
    assert result["contents"] == ["hi", TOKEN_TEXT]
