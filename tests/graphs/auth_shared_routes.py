"""A Starlette app with a route that answers OPTIONS itself (served with `enable_custom_route_auth`)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def probe(request: Request) -> JSONResponse:
    user = request.scope.get("user")
    return JSONResponse({"method": request.method, "user": user.identity if user is not None else None})


app = Starlette(routes=[Route("/custom/probe", probe, methods=["GET", "OPTIONS"])])
