"""`aegra dev`: the app is built only in uvicorn's reload process, yet a graph that fails to load is still a clean
CLI error with exit code 1, and a change to the project's code reloads it (or prints why it cannot)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

READY_LINE = "Application startup complete"
RELOAD_LINE = "detected changes in"
LINE_TIMEOUT_SECONDS = 60  # under pytest-timeout's 120 s per test, so a missing line fails with the output

GRAPH = """
from langgraph.graph import END, START, MessagesState, StateGraph

builder = StateGraph(MessagesState).add_node({node!r}, lambda state: {{}})
graph = builder.add_edge(START, {node!r}).add_edge({node!r}, END).compile()
"""


@dataclass
class DevProcess:
    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.output)

    async def line_with(self, text: str) -> str:
        """The next output line containing `text` (the lines before it are kept in `output`)."""
        assert self.process.stdout is not None
        while True:
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), LINE_TIMEOUT_SECONDS)
            except TimeoutError:
                raise AssertionError(f"aegra dev printed no {text!r}:\n{self.text}") from None
            assert line, f"aegra dev exited before printing {text!r}:\n{self.text}"
            self.output.append(line.decode(errors="replace"))
            if text in self.output[-1]:
                return self.output[-1]


def _project(folder: Path, graph_source: str) -> Path:
    (folder / "graph.py").write_text(graph_source)
    (folder / "aegra.json").write_text(json.dumps({"graphs": {"echo": "./graph.py:graph"}}))
    return folder


def _dev_env(database_url: str) -> dict[str, str]:
    unset = ("AEGRA_CONFIG", "PORT", "HOST", "AEGRA_ALLOW_UNAUTHENTICATED", "AEGRA_AUTH_SECRET")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(LOG_LEVEL="INFO", DATABASE_URL=database_url)
    return env


@asynccontextmanager
async def aegra_dev(database_url: str, project: Path) -> AsyncIterator[DevProcess]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "aegra", "dev", "--port", "0"),
        cwd=project,
        env=_dev_env(database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its reload process too can be killed if it does not stop
    )
    try:
        yield DevProcess(process)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def _served_nodes(url: str) -> set[str]:
    """The nodes of the graph the server runs now (its system assistant's drawing)."""
    async with httpx.AsyncClient(base_url=url) as http:
        found = await http.post("/assistants/search", json={"metadata": {"created_by": "system"}})
        (assistant,) = found.json()
        drawn = await http.get(f"/assistants/{assistant['assistant_id']}/graph")
    return {node["id"] for node in drawn.json()["nodes"]} - {"__start__", "__end__"}


async def test_dev_reports_a_graph_that_fails_to_load_and_exits_with_code_1(database_url: str, tmp_path: Path) -> None:
    project = _project(tmp_path, 'raise RuntimeError("boom while importing")\n')

    async with aegra_dev(database_url, project) as dev:
        output, _ = await asyncio.wait_for(dev.process.communicate(), LINE_TIMEOUT_SECONDS)
    text = output.decode(errors="replace")

    assert dev.process.returncode == 1, text
    assert re.search(r"^Error: .*`graphs\.echo`.*RuntimeError: boom while importing$", text, re.MULTILINE), text
    assert "Traceback" not in text
    assert "Stopping reloader process" in text


async def test_dev_reloads_a_changed_graph_and_reports_a_broken_one_while_it_waits(
    database_url: str, tmp_path: Path
) -> None:
    project = _project(tmp_path, GRAPH.format(node="first"))

    async with aegra_dev(database_url, project) as dev:
        await dev.line_with(READY_LINE)
        banner = re.search(r"^API: (http://\S+)", dev.text, re.MULTILINE)
        assert banner is not None, dev.text
        before = await _served_nodes(banner.group(1))

        (project / "graph.py").write_text('raise RuntimeError("half-edited")\n')
        await dev.line_with(RELOAD_LINE)
        broken = await dev.line_with("Error: ")
        (project / "graph.py").write_text(GRAPH.format(node="second"))
        await dev.line_with(RELOAD_LINE)
        await dev.line_with(READY_LINE)
        after = await _served_nodes(banner.group(1))
        dev.process.send_signal(signal.SIGINT)
        exit_code = await asyncio.wait_for(dev.process.wait(), LINE_TIMEOUT_SECONDS)
        await dev.line_with("Stopping reloader process")

    assert before == {"first"}
    assert "`graphs.echo`" in broken
    assert "RuntimeError: half-edited" in broken
    assert after == {"second"}
    assert exit_code == 0, dev.text
    assert "Traceback" not in dev.text
