"""Schemathesis over every operation of the published `/openapi.json`: no 5xx for any input, and every response
conforms to the schema. Bounded (a few examples per operation) and derandomized, so a run is reproducible.

The operations are collected from the document the app publishes (built without a database, at import time, as
`@schema.parametrize()` needs them then; a test checks the served one is the same). Schemathesis calls the server
synchronously, so this module serves the app from uvicorn in a thread of its own instead of the session's event
loop, which a synchronous test would block.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from aegra.app import create_app
from aegra.config import AegraConfig, load_config
from aegra.settings import Settings
from tests.conftest import TEST_GRAPHS_CONFIG

EXAMPLES_PER_OPERATION = 10
REQUEST_TIMEOUT_SECONDS = 60
STARTUP_TIMEOUT_SECONDS = 120


class ThreadedServer(uvicorn.Server):
    """uvicorn on its own event loop in a thread; `ready` is set once startup finished (or failed)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def threaded_server_url(settings: Settings, aegra_config: AegraConfig) -> Iterator[str]:
    port = _free_port()
    server = ThreadedServer(
        uvicorn.Config(
            create_app(settings, aegra_config),
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    thread = threading.Thread(target=server.run, name="fuzzed-aegra", daemon=True)
    thread.start()
    assert server.ready.wait(STARTUP_TIMEOUT_SECONDS), "the server did not start"
    assert server.started, "the server failed to start (see the log above)"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(STARTUP_TIMEOUT_SECONDS)


PUBLISHED = create_app(Settings(), load_config(TEST_GRAPHS_CONFIG)).openapi_schema.to_schema()
schema = schemathesis.openapi.from_dict(PUBLISHED)


def test_fuzzed_document_is_the_one_the_server_publishes(threaded_server_url: str) -> None:
    response = httpx.get(f"{threaded_server_url}/openapi.json", timeout=REQUEST_TIMEOUT_SECONDS)

    assert response.status_code == 200
    assert response.json() == PUBLISHED
    assert len(list(schema.get_all_operations())) >= 50


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_api_answers_every_generated_request_without_5xx_and_as_documented(
    case: schemathesis.Case, threaded_server_url: str
) -> None:
    case.call_and_validate(
        base_url=threaded_server_url,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
