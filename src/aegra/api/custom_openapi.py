"""The custom routes of `http.app` in `/openapi.json`, merged into the API's document as langgraph-api merges them:
the app's own OpenAPI document when it has one (FastAPI, or Litestar with OpenAPI on), else one operation per
route it declares (Starlette, Litestar without OpenAPI), named and summarised from its endpoint."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.exceptions import ImproperlyConfiguredException

IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


def custom_openapi(app: Any) -> dict[str, Any] | None:
    """The custom app's OpenAPI document (paths and components), None when it declares no routes."""
    spec = _own_document(app)
    if spec is not None:
        return spec
    paths: dict[str, dict[str, Any]] = {}
    for route in getattr(app, "routes", None) or ():
        path, methods, endpoint = _route_parts(route)
        if path is None:
            continue
        for method in sorted(methods - IGNORED_METHODS):
            paths.setdefault(path, {})[method.lower()] = _operation(endpoint, method, path)
    return {"paths": paths} if paths else None


def merge_openapi(document: dict[str, Any], custom: dict[str, Any] | None) -> dict[str, Any]:
    """The API's document with the custom routes' paths (theirs win a shared method) and components added."""
    if not custom:
        return document
    paths = dict(document.get("paths") or {})
    for path, item in (custom.get("paths") or {}).items():
        paths[path] = {**paths.get(path, {}), **item}
    components = dict(document.get("components") or {})
    for kind, entries in (custom.get("components") or {}).items():
        components[kind] = {**components.get(kind, {}), **entries}
    return {**document, "paths": paths, "components": components}


def _own_document(app: Any) -> dict[str, Any] | None:
    if isinstance(app, Litestar):
        try:
            return app.openapi_schema.to_schema()
        except ImproperlyConfiguredException:
            return None  # OpenAPI is off in that app: list its routes instead
    make = getattr(app, "openapi", None)
    if callable(make):  # FastAPI
        spec = make()
        return spec if isinstance(spec, dict) else None
    return None


def _route_parts(route: Any) -> tuple[str | None, set[str], Callable[..., Any] | None]:
    """(path, methods, endpoint) of a Litestar or Starlette route; no path for anything else (mounts, sockets)."""
    path = getattr(route, "path", None)
    methods = getattr(route, "methods", None)
    if not isinstance(path, str) or not methods:
        return None, set(), None
    endpoint = getattr(route, "endpoint", None)
    handlers = getattr(route, "route_handlers", None)
    if endpoint is None and handlers:
        endpoint = getattr(handlers[0], "fn", None)
    return path, {str(method).upper() for method in methods}, endpoint


def _operation(endpoint: Callable[..., Any] | None, method: str, path: str) -> dict[str, Any]:
    name = getattr(endpoint, "__name__", None) or f"{method.lower()}_{path.strip('/').replace('/', '_')}"
    doc = inspect.getdoc(endpoint) if endpoint is not None else None
    operation: dict[str, Any] = {
        "operationId": f"{name}_{method.lower()}",
        "tags": ["Custom Routes"],
        "responses": {"200": {"description": "Successful Response"}},
    }
    if doc:
        operation["summary"] = doc.splitlines()[0]
    return operation
