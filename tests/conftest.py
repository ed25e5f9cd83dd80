"""Shared fixtures: one PostgreSQL per session (embedded pgserver, or DATABASE_URL when set), a fresh
database per test module, and a real Aegra server (uvicorn on a free port) driven through the real SDK."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import uvicorn
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from aegra.app import create_app
from aegra.config import AegraConfig, load_config
from aegra.db.database import Database
from aegra.db.embedded import EmbeddedPostgres
from aegra.db.url import psycopg_conninfo, with_database
from aegra.settings import Settings
from tests import ast_guard

ast_guard.install()

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_GRAPHS_CONFIG = REPO_ROOT / "tests" / "graphs" / "aegra.json"
TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, the folder it lives in (`pytest -m unit` runs the fast tier)."""
    tests_dir = REPO_ROOT / "tests"
    for item in items:
        folder = item.path.relative_to(tests_dir).parts[0] if item.path.is_relative_to(tests_dir) else ""
        if folder in TIERS:
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the session's PostgreSQL server: DATABASE_URL if set, else an embedded pgserver."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    # Not under pytest's basetemp: each pytest run resets that to mode 0700, which the unprivileged user
    # pgserver runs PostgreSQL as (when tests run as root) could not enter, breaking concurrent runs.
    folder = Path(tempfile.mkdtemp(prefix="aegra-test-pg-"))
    folder.chmod(0o755)
    embedded = EmbeddedPostgres(folder / "pgdata")
    url = embedded.start()
    yield url
    embedded.stop()
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str, label: str) -> Iterator[str]:
    """The URL of a new, empty database on `server_url`'s PostgreSQL, dropped afterwards (even if still in use)."""
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower())[-40:]
    name = f"t_{slug}_{uuid.uuid4().hex[:8]}"
    admin = psycopg_conninfo(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def database_url(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test module (dropped afterwards)."""
    with fresh_database(pg_server_url, request.module.__name__) as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def database_without_pgvector_rights(pg_server_url: str) -> Iterator[str]:
    """A database owned by a role that may not create the (untrusted) `vector` extension."""
    role = f"nopgvector_{uuid.uuid4().hex[:8]}"
    name = f"t_store_nopgvector_{uuid.uuid4().hex[:8]}"
    admin = psycopg_conninfo(pg_server_url)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("cannot create a role on this PostgreSQL")
    parts = urlsplit(with_database(pg_server_url, name))
    host = parts.netloc.rpartition("@")[2]
    yield urlunsplit((parts.scheme, f"{role}@{host}", parts.path, parts.query, parts.fragment))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    """The graphs a module's server serves: the repo's examples plus the test graphs."""
    return load_config(TEST_GRAPHS_CONFIG)


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, n_jobs_per_worker=4)


@pytest.fixture(scope="module")
async def database(settings: Settings) -> AsyncIterator[Database]:
    """Aegra's database layer on the module's database, migrated, both pools open (with or without a server)."""
    assert settings.database_url is not None
    db = Database(settings.database_url, settings)
    await db.open()
    yield db
    await db.close()


@pytest.fixture(scope="module")
def app_options() -> dict[str, Any]:
    """Extra keyword arguments for `create_app`; a test module overrides this fixture to change them."""
    return {}


@asynccontextmanager
async def running_server(settings: Settings, config: AegraConfig, **app_options: Any) -> AsyncIterator[str]:
    """A real Aegra server (uvicorn on a free loopback port) for the block; yields its base URL."""
    app = create_app(settings, config, **app_options)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=5)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # surface the startup error
        await asyncio.sleep(0.02)  # uvicorn offers no event for "started"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def server_url(settings: Settings, aegra_config: AegraConfig, app_options: dict[str, Any]) -> AsyncIterator[str]:
    """Start a real Aegra server for the module and yield its base URL."""
    async with running_server(settings, aegra_config, **app_options) as url:
        yield url


@pytest.fixture
async def client(server_url: str) -> AsyncIterator[LangGraphClient]:
    """The official LangGraph SDK client, pointed at the module's server."""
    sdk = get_client(url=server_url, api_key=None)
    yield sdk
    await sdk.http.client.aclose()
