"""A Starlette app mounted as `http.app` in the custom-routes and auth tests (the usual FastAPI/Starlette case)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield {"greeting": "started by the custom app's lifespan"}


def _caller(request: Request) -> str | None:
    user = request.scope.get("user")
    return user.identity if user is not None else None


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world", "greeting": request.state.greeting, "user": _caller(request)})


async def info(request: Request) -> JSONResponse:
    return JSONResponse({"custom": "info"})


async def shadow_thread(request: Request) -> JSONResponse:
    return JSONResponse({"custom": "thread route"})


app = Starlette(
    routes=[
        Route("/hello", hello, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/threads/custom", shadow_thread, methods=["GET"]),
        Route("/ok", info, methods=["GET"]),
    ],
    lifespan=lifespan,
)
