"""`langgraph_sdk`: read the handlers a user's `Auth` registered, and build the runtime graph factories receive.

`Auth` keeps its handlers in private attributes and `ServerRuntime` is a union of two private dataclasses; the
SDK publishes neither a getter nor a constructor (langgraph-api reads the same attributes).
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth
from langgraph_sdk.auth.types import Authenticator, BaseUser, Handler
from langgraph_sdk.runtime import AccessContext, ServerRuntime
from langgraph_sdk.runtime import _ExecutionRuntime as ExecutionRuntime
from langgraph_sdk.runtime import _ReadRuntime as ReadRuntime


def authenticate_handler(auth: Auth) -> Authenticator | None:
    """The function decorated with `@auth.authenticate`, if any."""
    return auth._authenticate_handler


def authorization_handler(auth: Auth, resource: str, action: str) -> Handler | None:
    """The `@auth.on...` handler that decides `resource.action`, chosen as the SDK documents: the exact
    `(resource, action)`, then `(resource, *)`, then `(*, action)`, then the global `@auth.on`; None accepts."""
    handlers = auth._handlers
    chosen = (
        handlers.get((resource, action))
        or handlers.get((resource, "*"))
        or handlers.get(("*", action))
        or auth._global_handlers
    )
    return chosen[-1] if chosen else None


def server_runtime(
    access_context: AccessContext, *, user: BaseUser | None, store: Any, context: Any = None
) -> ServerRuntime[Any]:
    """The `ServerRuntime` a graph factory receives: the execution variant (with `context`) for
    `threads.create_run`, the read variant otherwise."""
    if access_context == "threads.create_run":
        return ExecutionRuntime(access_context=access_context, user=user, store=store, context=context)
    return ReadRuntime(access_context=access_context, user=user, store=store)
