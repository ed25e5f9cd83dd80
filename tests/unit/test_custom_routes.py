"""`http.app` plumbing without a server: route precedence, the lifespan driver, `http.disable_*`, config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.types import Receive, Scope, Send

from aegra.app import create_app
from aegra.config import AegraConfig, parse_config
from aegra.custom_routes import (
    Claim,
    CustomRoutesDispatcher,
    app_lifespan,
    claims_of,
    litestar_claims,
    load_custom_app,
)
from aegra.errors import ConfigError
from aegra.settings import Settings

GRAPHS_DIR = Path(__file__).resolve().parent.parent / "graphs"


def _config(extra: str = "") -> AegraConfig:
    raw = f'{{"graphs": {{"echo": "./graphs.py:echo"}}{extra}}}'.encode()
    return parse_config(raw, source=GRAPHS_DIR / "unit.json")


def _scope(path: str, method: str = "GET") -> Scope:
    return {"type": "http", "path": path, "method": method, "headers": [], "query_string": b""}  # type: ignore[return-value]


class Recorder:
    """A stand-in ASGI app that remembers which paths reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])


def test_disable_toggles_drop_their_route_groups() -> None:
    config = _config(', "http": {"disable_runs": true, "disable_store": true, "disable_meta": true}')

    claims = litestar_claims(create_app(Settings(database_url="postgresql://u@localhost/db"), config))

    assert claims(_scope("/threads", "POST")) is Claim.FULL
    assert claims(_scope("/assistants/search", "POST")) is Claim.FULL
    assert claims(_scope("/ok")) is Claim.FULL
    for path, method in [
        ("/runs/wait", "POST"),
        ("/runs/crons", "POST"),
        ("/threads/6f2c7d3e-1111-4a4a-8b8b-000000000000/runs", "POST"),
        ("/store/items", "PUT"),
        ("/info", "GET"),
        ("/docs", "GET"),
        ("/openapi.json", "GET"),
    ]:
        assert claims(_scope(path, method)) is Claim.NONE, path


async def test_plain_asgi_app_gets_what_the_api_does_not_serve() -> None:
    api, custom = Recorder(), Recorder()
    dispatcher = CustomRoutesDispatcher(
        api,
        custom,
        api_claims=lambda scope: Claim.FULL if scope["path"] == "/threads" else Claim.NONE,
        custom_claims=claims_of(custom),
        unshadowable=frozenset({"/ok"}),
        custom_state={},
    )

    for path in ("/threads", "/mine", "/ok"):
        await dispatcher(_scope(path), _receive_nothing, _send_nothing)

    assert api.paths == ["/threads", "/ok"]
    assert custom.paths == ["/mine"]


async def test_custom_routes_win_except_on_unshadowable_paths() -> None:
    api, custom = Recorder(), Recorder()
    dispatcher = CustomRoutesDispatcher(
        api,
        custom,
        api_claims=lambda scope: Claim.FULL,
        custom_claims=lambda scope: Claim.FULL,
        unshadowable=frozenset({"/ok"}),
        custom_state={"answer": 42},
    )
    scope = _scope("/info")

    await dispatcher(scope, _receive_nothing, _send_nothing)
    await dispatcher(_scope("/ok"), _receive_nothing, _send_nothing)
    await dispatcher(_scope("/docs/swagger"), _receive_nothing, _send_nothing)

    assert custom.paths == ["/info"]
    assert api.paths == ["/ok", "/docs/swagger"]
    assert scope["state"] == {"answer": 42}


async def test_lifespan_runs_startup_and_shutdown_and_keeps_the_state() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["ready"] = True
                events.append("startup")
                await send({"type": "lifespan.startup.complete"})
            else:
                events.append("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return

    state: dict[str, Any] = {}
    async with app_lifespan(app, state):  # type: ignore[arg-type]
        assert events == ["startup"]

    assert events == ["startup", "shutdown"]
    assert state == {"ready": True}


async def test_apps_without_lifespan_support_are_served_anyway() -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"

    async with app_lifespan(http_only, {}):  # type: ignore[arg-type]
        pass


async def test_a_failed_custom_startup_is_a_config_error() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(ConfigError, match="no database"):
        async with app_lifespan(failing, {}):  # type: ignore[arg-type]
            pass


def test_a_bad_http_app_reference_names_the_key() -> None:
    config = _config(', "http": {"app": "./missing_routes.py:app"}')

    with pytest.raises(ConfigError, match=r"`http\.app`.*missing_routes\.py"):
        load_custom_app(config)


def test_http_app_must_be_callable() -> None:
    config = _config(', "http": {"app": "./auth.py:USERS"}')

    with pytest.raises(ConfigError, match="not an ASGI application"):
        load_custom_app(config)


async def _receive_nothing() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send_nothing(message: dict[str, Any]) -> None:
    return None
