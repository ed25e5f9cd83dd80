"""Serving the inspector at `/inspector`: its static files, and which paths stay public under auth."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

INSPECTOR_PATH = "/inspector"
STATIC_DIR = Path(__file__).parent / "static"


def is_inspector_asset(path: str) -> bool:
    """`/inspector` and the files under it: public (the page must load before the user can log in).

    A path that normalizes elsewhere (`/inspector/../threads`) is not an inspector asset, so it cannot be used
    to reach an API route without credentials.
    """
    normalized = posixpath.normpath(path)
    return path.startswith(INSPECTOR_PATH) and (
        normalized == INSPECTOR_PATH or normalized.startswith(INSPECTOR_PATH + "/")
    )


def _add_trailing_slash(request: Request[Any, Any, Any]) -> Redirect | None:
    """`/inspector` → `/inspector/`, so the page's relative asset URLs resolve under it."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    if raw_path.endswith(INSPECTOR_PATH.encode()):  # Litestar's own `path` drops the trailing slash
        return Redirect(path=INSPECTOR_PATH + "/")
    return None


def inspector_router() -> Router:
    """The page's static files, index.html at `/inspector/`."""
    return create_static_files_router(
        path=INSPECTOR_PATH,
        directories=[STATIC_DIR],
        html_mode=True,
        name="inspector",
        include_in_schema=False,
        before_request=_add_trailing_slash,
    )
