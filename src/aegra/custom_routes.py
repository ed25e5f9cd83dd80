"""`http.app`: the user's own ASGI app (Starlette, FastAPI, Litestar or plain ASGI) served beside the API.

Routing follows langgraph-api: `/ok`, `/metrics`, `/docs` and `/openapi.json` always belong to Aegra; elsewhere a
route the user's app declares wins, even over an API route with the same path and method (`/info`, `/threads`...);
paths that neither declares go to the user's app when it declares the path for another method, else to the API
(its JSON 404). A plain ASGI callable cannot be inspected, so there the API's routes win and the user's app gets
every other path. CORS applies to custom routes too; authentication only with `http.enable_custom_route_auth`.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import structlog
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils import normalize_path

from aegra.adapters.litestar import with_cors
from aegra.auth.handlers import AuthHandlers
from aegra.auth.middleware import AuthenticationMiddleware
from aegra.config import AegraConfig
from aegra.errors import ConfigError
from aegra.loading import LoadError, load_object

logger = structlog.get_logger(__name__)

UNSHADOWABLE_PATHS = frozenset({"/ok", "/metrics", "/openapi.json"})
UNSHADOWABLE_PREFIXES = ("/docs",)
LIFESPAN_EXIT_SECONDS = 5.0


class Claim(enum.Enum):
    """How an app's routes match a request: path and method, the path only, nothing, or cannot tell."""

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"
    UNKNOWN = "unknown"


RouteClaims = Callable[[Scope], Claim]


def litestar_claims(app: Litestar) -> RouteClaims:
    """Ask a Litestar app's router (Aegra's own, or a user's Litestar app)."""

    def claim(scope: Scope) -> Claim:
        try:
            app.asgi_router.handle_routing(path=normalize_path(scope["path"]), method=scope.get("method"))
        except MethodNotAllowedException:
            return Claim.PARTIAL
        except NotFoundException:
            return Claim.NONE
        return Claim.FULL

    return claim


def starlette_claims(routes: list[Any]) -> RouteClaims:
    """Ask each route of a Starlette/FastAPI app, as Starlette's router does (duck-typed: no Starlette import)."""

    def claim(scope: Scope) -> Claim:
        best = Claim.NONE
        for route in routes:
            match, _ = route.matches(scope)
            if match.name == "FULL":
                return Claim.FULL
            if match.name == "PARTIAL":
                best = Claim.PARTIAL
        return best

    return claim


def claims_of(app: Any) -> RouteClaims:
    """How to tell which requests the user's app declares a route for."""
    if isinstance(app, Litestar):
        return litestar_claims(app)
    routes = getattr(app, "routes", None)
    if isinstance(routes, list) and all(callable(getattr(route, "matches", None)) for route in routes):
        return starlette_claims(routes)
    return lambda scope: Claim.UNKNOWN


def load_custom_app(config: AegraConfig) -> ASGIApp | None:
    """The app named by `http.app`, or None; a bad reference is a ConfigError naming the key."""
    if config.http is None or not config.http.app:
        return None
    try:
        app = load_object(config.http.app, Path(config.base_dir or "."))
    except LoadError as exc:
        raise config.error("http.app", str(exc)) from None
    if not callable(app):
        raise config.error("http.app", f"{config.http.app!r} is a {type(app).__name__}, not an ASGI application")
    return cast("ASGIApp", app)  # a callable; whether it speaks ASGI shows on its first request


@dataclass(eq=False)  # an ASGI app: compared (and hashed) by identity
class CustomRoutesDispatcher:
    """Sends each request to the API or to the user's app (see the module docstring for the rule)."""

    api: ASGIApp
    custom: ASGIApp
    api_claims: RouteClaims = field(kw_only=True)
    custom_claims: RouteClaims = field(kw_only=True)
    unshadowable: frozenset[str] = field(kw_only=True)
    custom_state: Mapping[str, Any] = field(kw_only=True)

    def serves_custom(self, scope: Scope) -> bool:
        """Whether the user's app answers this request."""
        path = scope["path"]
        if path in self.unshadowable or (self.unshadowable and path.startswith(UNSHADOWABLE_PREFIXES)):
            return False
        custom = self.custom_claims(scope)
        if custom is Claim.FULL:
            return True
        if self.api_claims(scope) is Claim.FULL:
            return False
        return custom in (Claim.PARTIAL, Claim.UNKNOWN)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.serves_custom(scope):
            await self.api(scope, receive, send)
            return
        if self.custom_state:  # what the app's own lifespan yielded, as a server would pass it
            scope["state"] = {**self.custom_state, **scope.get("state", {})}
        await self.custom(scope, receive, send)


def mount_custom_app(
    app: Litestar,
    custom: ASGIApp,
    *,
    cors: CORSConfig | None,
    auth: AuthHandlers | None,
    protect: bool,
    disable_meta: bool,
    custom_state: Mapping[str, Any],
) -> None:
    """Serve `custom` beside the API routes of `app` (CORS, and auth when `protect`, wrap the custom routes)."""
    served: ASGIApp = custom
    if protect and auth is not None:
        served = AuthenticationMiddleware(served, handlers=auth, protect_all=True)
    if cors is not None:
        served = with_cors(served, cors)
    # Litestar calls `asgi_handler` for every request once it has set up the scope; the dispatcher goes in front
    # of the API's own handler (its CORS, exception handling and router).
    app.asgi_handler = CustomRoutesDispatcher(
        app.asgi_handler,
        served,
        api_claims=litestar_claims(app),
        custom_claims=claims_of(custom),
        unshadowable=frozenset() if disable_meta else UNSHADOWABLE_PATHS,
        custom_state=custom_state,
    )


@asynccontextmanager
async def app_lifespan(app: ASGIApp, state: dict[str, Any]) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan (startup on enter, shutdown on exit) as a server would.

    Apps without lifespan support (they raise or return on the `lifespan` scope) are simply not started, like
    uvicorn's `lifespan="auto"`. What the app stores in the lifespan `state` is kept in `state`.
    """
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        await outbox.put(message)

    task: asyncio.Task[None] = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]  # no lifespan in ASGIApp
    await inbox.put({"type": "lifespan.startup"})
    started = await _reply(task, outbox)
    if started is not None and started["type"] == "lifespan.startup.failed":
        await _finish(task)
        message = str(started.get("message") or "")
        logger.error("custom app failed to start", message=message)
        raise ConfigError(f"The http.app application failed to start: {_last_line(message)}")
    if started is None or started["type"] != "lifespan.startup.complete":
        logger.info("custom app does not support lifespan; not started")
        await _finish(task)
        yield
        return
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await _reply(task, outbox)
        if stopped is not None and stopped["type"] == "lifespan.shutdown.failed":
            logger.warning("custom app failed to shut down", message=stopped.get("message"))
        await _finish(task)


def _last_line(message: str) -> str:
    """The gist of a startup failure message (servers often send a whole traceback)."""
    lines = [line.strip(" |") for line in message.splitlines()]
    lines = [line for line in lines if line and not line.startswith("+-")]
    return lines[-1] if lines else "no message"


async def _reply(task: asyncio.Task[Any], outbox: asyncio.Queue[dict[str, Any]]) -> dict[str, Any] | None:
    """The app's next lifespan message, or None when the app ended without one."""
    getter = asyncio.create_task(outbox.get())
    await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        return getter.result()
    getter.cancel()
    if not task.cancelled() and task.exception() is not None:
        logger.debug("custom app ended its lifespan with an error", error=repr(task.exception()))
    return None


async def _finish(task: asyncio.Task[Any]) -> None:
    """Let the app's lifespan call return (it should, once it has replied); cancel it if it hangs."""
    done, _ = await asyncio.wait({task}, timeout=LIFESPAN_EXIT_SECONDS)
    if not done:
        task.cancel()
    with suppress(asyncio.CancelledError, Exception):
        await task
