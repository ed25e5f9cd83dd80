"""`litestar`: its CORS middleware, for the user's own app mounted beside the API (`http.app`).

Litestar 2.9 moved `CORSMiddleware` out of its public API (the old import path warns and goes away in 3.0); the
app applies it only around its own router, and custom routes must answer browsers with the same headers.
"""

from __future__ import annotations

from litestar.config.cors import CORSConfig
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.types import ASGIApp


def with_cors(app: ASGIApp, config: CORSConfig) -> ASGIApp:
    """`app` behind Litestar's own CORS handling (preflight answers and response headers per `config`)."""
    return CORSMiddleware(app, config=config)
