"""Load `auth.path` from aegra.json: the user's `langgraph_sdk.Auth` object."""

from __future__ import annotations

from pathlib import Path

from langgraph_sdk import Auth

from aegra.adapters.langgraph_sdk import authenticate_handler
from aegra.auth.handlers import AuthHandlers
from aegra.config import AegraConfig
from aegra.loading import LoadError, load_object


def load_auth_handlers(config: AegraConfig) -> AuthHandlers | None:
    """The handlers of `auth.path`, or None when no auth is configured (every request is then allowed)."""
    if config.auth is None or not config.auth.path:
        return None
    reference = config.auth.path
    try:
        auth = load_object(reference, Path(config.base_dir or "."))
    except LoadError as exc:
        raise config.error("auth.path", str(exc)) from None
    if not isinstance(auth, Auth):
        raise config.error("auth.path", f"{reference!r} is a {type(auth).__name__}, not a langgraph_sdk.Auth instance")
    if authenticate_handler(auth) is None:
        raise config.error("auth.path", f"{reference!r} has no @auth.authenticate handler, so no request can pass")
    return AuthHandlers(auth)
