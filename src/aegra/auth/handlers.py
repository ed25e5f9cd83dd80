"""Run a user's `langgraph_sdk.Auth`: authenticate requests, then authorize each resource action."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langgraph_sdk import Auth
from langgraph_sdk.auth.types import AuthContext, Handler

from aegra.adapters.langgraph_sdk import authenticate_handler, authorization_handler
from aegra.auth.filters import Filters
from aegra.auth.user import AuthenticatedUser, normalize_user
from aegra.errors import ForbiddenError, HttpStatusError, UnauthorizedError

Resource = Literal["assistants", "threads", "runs", "crons", "store"]


@dataclass(frozen=True, slots=True)
class RequestParts:
    """What an `@auth.authenticate` handler may ask for, by parameter name."""

    method: str
    path: str
    path_params: Mapping[str, str]
    query_params: Mapping[str, str]
    headers: Mapping[bytes, bytes]
    request: Any = None

    @property
    def authorization(self) -> str | None:
        value = self.headers.get(b"authorization")
        return value.decode("latin-1") if value is not None else None


class AuthHandlers:
    """The configured Auth object's handlers, resolved once per (resource, action)."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self._resolved: dict[tuple[str, str], Handler | None] = {}
        handler = authenticate_handler(auth)
        self._wanted = frozenset(inspect.signature(handler).parameters) if handler is not None else frozenset()

    @property
    def has_authenticate(self) -> bool:
        return authenticate_handler(self.auth) is not None

    @property
    def wants_request(self) -> bool:
        """Whether `@auth.authenticate` takes the request object (built only then)."""
        return "request" in self._wanted

    async def authenticate(self, parts: RequestParts) -> AuthenticatedUser:
        """Call `@auth.authenticate` with the parameters it names; its HTTPException becomes our error."""
        handler = authenticate_handler(self.auth)
        if handler is None:
            raise UnauthorizedError("No authentication handler configured")
        available = {
            "request": parts.request,
            "method": parts.method,
            "path": parts.path,
            "path_params": dict(parts.path_params),
            "query_params": dict(parts.query_params),
            "headers": dict(parts.headers),
            "authorization": parts.authorization,
        }
        kwargs = {name: available[name] for name in self._wanted if name in available}
        try:
            result = await handler(**kwargs)
        except Auth.exceptions.HTTPException as exc:
            raise HttpStatusError(exc.status_code, str(exc.detail)) from exc
        if result is None:
            raise UnauthorizedError("Unauthorized")
        return normalize_user(result)

    def _handler(self, resource: str, action: str) -> Handler | None:
        key = (resource, action)
        if key not in self._resolved:
            self._resolved[key] = authorization_handler(self.auth, resource, action)
        return self._resolved[key]

    async def authorize(
        self, user: AuthenticatedUser, resource: Resource, action: str, value: dict[str, Any]
    ) -> Filters | None:
        """Run the handler for `resource.action`; it may edit `value` in place. Returns filters to apply."""
        handler = self._handler(resource, action)
        if handler is None:
            return None
        context = AuthContext(
            permissions=list(user.permissions),
            user=user,
            resource=resource,
            action=action,  # type: ignore[arg-type]  # the SDK's Literal of actions; callers pass one as str
        )
        try:
            result = await handler(ctx=context, value=value)
        except Auth.exceptions.HTTPException as exc:
            raise HttpStatusError(exc.status_code, str(exc.detail)) from exc
        except AssertionError as exc:  # langgraph-api answers a failed `assert` in a handler with 403
            raise ForbiddenError(str(exc) or "Forbidden") from exc
        if result is None or result is True:
            return None
        if result is False:
            raise ForbiddenError("Forbidden")
        if isinstance(result, Mapping):
            return dict(result)
        raise ForbiddenError(f"Auth handler for {resource}.{action} returned {type(result).__name__}")
