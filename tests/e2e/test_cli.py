"""The `aegra` command: help, version, init, config errors, and a real `aegra serve` process started and stopped."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from langchain_core.messages import HumanMessage
from langgraph_sdk import get_client
from typer.testing import CliRunner

from aegra import __version__
from aegra.cli import app
from aegra.config import load_config
from aegra.graphs.registry import GraphRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_GRAPHS = {"agent", "agent_hitl", "subgraph_agent", "factory"}
READY_LINE = "Application startup complete"

runner = CliRunner()


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])

    assert result.exit_code == 0
    for command in ("serve", "dev", "init", "migrate", "version"):
        assert command in result.output


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["version"])
    flag = runner.invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.output.strip() == f"aegra {__version__}"
    assert flag.output.strip() == f"aegra {__version__}"


async def test_init_writes_a_project_whose_graph_runs(tmp_path: Path) -> None:
    project = tmp_path / "my-agent"

    result = runner.invoke(app, ["init", str(project)])
    registry = GraphRegistry.from_config(load_config(project / "aegra.json"))
    async with registry.get_graph("agent") as graph:
        reply = await graph.ainvoke({"messages": [HumanMessage(content="ping")]})

    assert result.exit_code == 0, result.output
    assert "aegra dev" in result.output
    assert "You said: ping" in reply["messages"][-1].content


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path)])

    again = runner.invoke(app, ["init", str(tmp_path)])
    forced = runner.invoke(app, ["init", str(tmp_path), "--force"])

    assert again.exit_code == 1
    assert "already exists" in again.output
    assert forced.exit_code == 0


@pytest.mark.parametrize(
    ("config", "key", "problem"),
    [
        ({"graphs": {"agent": 7}}, "graphs.agent", "Expected `str | object`"),
        ({"graphs": {"agent": "./missing.py:graph"}}, "graphs.agent", "does not exist"),
        ({"graphs": {"agent": "./graph.py:graph"}, "env": "./nope.env"}, "env", "does not exist"),
    ],
)
def test_serve_reports_a_bad_config_without_a_traceback(
    tmp_path: Path, config: dict[str, object], key: str, problem: str
) -> None:
    path = tmp_path / "aegra.json"
    path.write_text(json.dumps(config))

    result = runner.invoke(app, ["serve", "--config", str(path)], env={"DATABASE_URL": "postgresql://unused/db"})

    assert result.exit_code == 1
    assert str(path.resolve()) in result.output
    assert f"`{key}`" in result.output
    assert problem in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["serve"], ["migrate", "upgrade"]], ids=["serve", "migrate"])
def test_unreachable_database_fails_fast_with_the_password_hidden(command: list[str]) -> None:
    unreachable = "postgresql://user:s3cret@127.0.0.1:1/aegra"  # port 1: connection refused at once
    arguments = [*command, "--config", str(REPO_ROOT / "aegra.json")]

    result = runner.invoke(app, arguments, env={"DATABASE_URL": unreachable})

    assert result.exit_code == 1
    assert "cannot connect to DATABASE_URL postgresql://user:***@127.0.0.1:1/aegra" in result.output
    assert "s3cret" not in result.output
    assert "Traceback" not in result.output


def test_serve_reports_a_bad_setting_by_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--config", str(REPO_ROOT / "aegra.json")], env={"PORT": "http"})

    assert result.exit_code == 1
    assert "PORT='http' is not an integer" in result.output


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    url: str
    output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def listening(self) -> set[tuple[str, int]]:
        """The (address, port) pairs the server process listens on (once it has answered a request: uvicorn reports
        startup complete just before it starts listening)."""
        sockets = psutil.Process(self.process.pid).net_connections(kind="inet")
        return {(conn.laddr.ip, conn.laddr.port) for conn in sockets if conn.status == psutil.CONN_LISTEN}


async def _drain(server: ServerProcess) -> None:
    assert server.process.stdout is not None
    async for line in server.process.stdout:
        server.output.append(line.decode(errors="replace"))


def _serve_command(*arguments: str, config: Path = REPO_ROOT / "aegra.json") -> list[str]:
    return [sys.executable, "-m", "aegra", "serve", "--config", str(config), *arguments]


@asynccontextmanager
async def aegra_serve(env: dict[str, str], cwd: Path, command: list[str] | None = None) -> AsyncIterator[ServerProcess]:
    """A real `aegra` server process (default: `aegra serve --port 0`): yields once uvicorn reports startup complete,
    with the URL its banner printed; kills it if still alive."""
    process = await asyncio.create_subprocess_exec(
        *(command or _serve_command("--port", "0")),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    server = ServerProcess(process, "")
    assert process.stdout is not None
    while not server.output or READY_LINE not in server.output[-1]:
        line = await process.stdout.readline()
        assert line, f"aegra serve exited before it was ready:\n{server.text}"
        server.output.append(line.decode(errors="replace"))
    banner = re.search(r"^API: (http://\S+)", server.text, re.MULTILINE)
    assert banner is not None, server.text
    server.url = banner.group(1)
    drain = asyncio.create_task(_drain(server))
    try:
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await drain


async def _refused(env: dict[str, str], cwd: Path, command: list[str]) -> tuple[int, str]:
    """Run a server command that is expected to exit on its own; its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, output.decode(errors="replace")


def _server_env(**overrides: str) -> dict[str, str]:
    unset = ("DATABASE_URL", "AEGRA_CONFIG", "PORT", "HOST", "AEGRA_ALLOW_UNAUTHENTICATED", "AEGRA_AUTH_SECRET")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(LOG_LEVEL="INFO", **overrides)
    return env


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_answers_and_stops_cleanly_on_a_signal(
    database_url: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    async with aegra_serve(_server_env(DATABASE_URL=database_url), tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            ok = await http.get("/ok")
        sdk = get_client(url=server.url, api_key=None)
        assistants = await sdk.assistants.search(metadata={"created_by": "system"})
        await sdk.http.client.aclose()

        server.process.send_signal(stop_signal)
        exit_code = await server.process.wait()

    assert ok.json() == {"ok": True}
    assert {item["graph_id"] for item in assistants} == EXAMPLE_GRAPHS
    assert all(item["description"] for item in assistants)  # from the long-form entries of aegra.json
    assert exit_code == 0, server.text
    assert "Finished server process" in server.text
    assert "Traceback" not in server.text


def _postgres_processes_using(pgdata: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if any(str(pgdata) in part for part in cmdline):
            found.append(process)
    return found


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A data folder outside pytest's temp root: pytest resets that root to mode 0700 whenever a session starts,
    and as root pgserver runs PostgreSQL as the `pgserver` user, which must be able to reach its data folder."""
    folder = Path(tempfile.mkdtemp(prefix="aegra-e2e-"))
    yield folder / "state"
    shutil.rmtree(folder, ignore_errors=True)


async def test_serve_with_embedded_postgres_stops_it_on_exit(tmp_path: Path, embedded_data_dir: Path) -> None:
    data_dir = embedded_data_dir

    async with aegra_serve(_server_env(AEGRA_DATA_DIR=str(data_dir)), tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            ok = await http.get("/ok", params={"check_db": 1})
        running_while_served = _postgres_processes_using(data_dir / "pgdata")
        server.process.send_signal(signal.SIGINT)
        exit_code = await server.process.wait()

    assert ok.json() == {"ok": True}
    assert "Embedded PostgreSQL ready" in server.text
    assert running_while_served, "the embedded PostgreSQL should run while the server does"
    assert exit_code == 0, server.text
    assert _postgres_processes_using(data_dir / "pgdata") == []
    assert json.loads((data_dir / "pgdata" / ".handle_pids.json").read_text()) == []


# -- where the server listens ---------------------------------------------------------------------------------------


async def test_serve_listens_on_loopback_only_by_default(database_url: str, tmp_path: Path) -> None:
    async with aegra_serve(_server_env(DATABASE_URL=database_url), tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            ok = await http.get("/ok")
        listening = server.listening()

    port = int(server.url.rsplit(":", 1)[1])
    assert listening == {("127.0.0.1", port)}
    assert port != 0  # `--port 0`: the banner shows the port really bound
    assert ok.json() == {"ok": True}
    assert "every interface" not in server.text


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_serve_on_ipv6_loopback_prints_a_bracketed_url(database_url: str, tmp_path: Path) -> None:
    command = _serve_command("--host", "::1", "--port", "0")

    async with aegra_serve(_server_env(DATABASE_URL=database_url), tmp_path, command) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            ok = await http.get("/ok")
        listening = server.listening()

    port = int(server.url.rsplit(":", 1)[1])
    assert server.url == f"http://[::1]:{port}"
    assert listening == {("::1", port)}
    assert ok.json() == {"ok": True}


@pytest.mark.parametrize(
    ("arguments", "env"),
    [
        (("serve", "--host", "0.0.0.0"), {}),
        (("serve",), {"HOST": "0.0.0.0"}),
        (("dev", "--no-reload"), {"HOST": "0.0.0.0"}),
    ],
    ids=["serve --host", "serve HOST", "dev HOST"],
)
async def test_a_non_loopback_address_without_auth_is_refused(
    tmp_path: Path, arguments: tuple[str, ...], env: dict[str, str]
) -> None:
    command = [sys.executable, "-m", "aegra", *arguments, "--port", "0", "--config", str(REPO_ROOT / "aegra.json")]

    code, output = await _refused(_server_env(DATABASE_URL="postgresql://unused/db", **env), tmp_path, command)

    assert code == 1
    assert "refusing to listen on 0.0.0.0:" in output
    assert "--allow-unauthenticated" in output
    assert READY_LINE not in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("flag", "env"),
    [(("--allow-unauthenticated",), {}), ((), {"AEGRA_ALLOW_UNAUTHENTICATED": "true"})],
    ids=["flag", "environment"],
)
async def test_allowing_unauthenticated_access_listens_everywhere_with_a_warning(
    database_url: str, tmp_path: Path, flag: tuple[str, ...], env: dict[str, str]
) -> None:
    command = _serve_command("--host", "0.0.0.0", "--port", "0", *flag)

    async with aegra_serve(_server_env(DATABASE_URL=database_url, **env), tmp_path, command) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            ok = await http.get("/ok")
        listening = server.listening()

    port = int(server.url.rsplit(":", 1)[1])
    assert listening == {("0.0.0.0", port)}
    assert server.url == f"http://127.0.0.1:{port}"
    assert f"listening on 0.0.0.0:{port}: every interface" in server.text
    assert "Warning: listening on 0.0.0.0" in server.text
    assert "without authentication" in server.text
    assert ok.json() == {"ok": True}


AUTH_EXAMPLE = REPO_ROOT / "examples" / "aegra.auth.json"


async def test_with_auth_configured_the_server_may_listen_everywhere(database_url: str, tmp_path: Path) -> None:
    command = _serve_command("--host", "0.0.0.0", "--port", "0", config=AUTH_EXAMPLE)
    env = _server_env(DATABASE_URL=database_url, AEGRA_AUTH_SECRET="a-secret-only-this-test-knows")

    async with aegra_serve(env, tmp_path, command) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            anonymous = await http.post("/threads/search", json={})
        listening = server.listening()

    assert {address for address, _ in listening} == {"0.0.0.0"}
    assert anonymous.status_code == 401
    assert "Warning: listening" not in server.text


async def test_the_example_auth_refuses_its_public_secret_off_loopback(database_url: str, tmp_path: Path) -> None:
    command = _serve_command("--host", "0.0.0.0", "--port", "0", config=AUTH_EXAMPLE)

    code, output = await _refused(_server_env(DATABASE_URL=database_url), tmp_path, command)

    assert code == 1
    assert "AEGRA_AUTH_SECRET is not set and the server listens on 0.0.0.0" in output
    assert "Traceback" not in output
