"""Thread streams under auth (`tests/graphs/auth.py`): the same handlers as `runs.stream` decide, so user B can
neither read user A's thread stream (SSE, WebSocket, join) nor start or resume runs on it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import InvalidStatus

from aegra.config import AegraConfig, load_config
from aegra.settings import Settings
from tests.e2e.test_auth import AUTH_CONFIG

pytestmark = pytest.mark.e2e

WAIT = 60.0


@pytest.fixture(scope="module")
def aegra_config() -> AegraConfig:
    return load_config(AUTH_CONFIG)


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, n_jobs_per_worker=4)


@pytest.fixture
async def alice(server_url: str) -> AsyncIterator[LangGraphClient]:
    sdk = get_client(url=server_url, api_key=None, headers={"Authorization": "Bearer token-a"})
    yield sdk
    await sdk.http.client.aclose()


@pytest.fixture
async def alices_thread(alice: LangGraphClient) -> str:
    async with alice.threads.stream(assistant_id="echo") as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "private"}]})
        output = await asyncio.wait_for(thread.output, WAIT)
    assert output["messages"][-1]["content"] == "echo: private"
    return thread.thread_id


def _bob(server_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server_url, headers={"Authorization": "Bearer token-b"}, timeout=WAIT)


async def test_another_user_cannot_read_the_thread_stream(alices_thread: str, server_url: str) -> None:
    async with _bob(server_url) as bob:
        events = await bob.post(f"/threads/{alices_thread}/stream/events", json={"channels": ["values"]})
        joined = await bob.get(f"/threads/{alices_thread}/stream")

    assert events.status_code == 404
    assert joined.status_code == 404


async def test_another_user_cannot_open_the_thread_websocket(alices_thread: str, server_url: str) -> None:
    url = server_url.replace("http://", "ws://") + f"/threads/{alices_thread}/stream/events"

    with pytest.raises(InvalidStatus) as refused:
        async with websocket_connect(url, additional_headers={"Authorization": "Bearer token-b"}):
            pass

    assert refused.value.response.status_code == 403


async def test_another_user_cannot_start_or_resume_runs_on_the_thread(alices_thread: str, server_url: str) -> None:
    start = {"id": 1, "method": "run.start", "params": {"assistant_id": "echo", "input": {"messages": []}}}
    respond = {"id": 2, "method": "input.respond", "params": {"interrupt_id": "x", "namespace": [], "response": 1}}

    async with _bob(server_url) as bob:
        started = await bob.post(f"/threads/{alices_thread}/commands", json=start)
        responded = await bob.post(f"/threads/{alices_thread}/commands", json=respond)

    assert started.status_code == 404
    assert responded.json()["error"] == "no_such_run"  # the same answer as for a thread that does not exist


async def test_the_thread_stream_needs_credentials(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as anonymous:
        response = await anonymous.post(f"/threads/{uuid.uuid4()}/commands", json={"id": 1, "method": "run.start"})

    assert response.status_code == 401


async def test_the_owner_streams_over_the_websocket(alice: LangGraphClient) -> None:
    # SDK 0.4.14's WebSocket handshake sends the stream's own `headers`, not the client's default ones.
    headers = {"Authorization": "Bearer token-a"}
    async with alice.threads.stream(assistant_id="echo", transport="websocket", headers=headers) as thread:
        await thread.run.start(input={"messages": [{"role": "user", "content": "mine"}]})
        output = await asyncio.wait_for(thread.output, WAIT)

    assert output["messages"][-1]["content"] == "echo: mine"
