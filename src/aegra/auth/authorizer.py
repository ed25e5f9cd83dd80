"""The request-scoped view of auth that services use: who is calling, and what their handlers allow."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aegra.auth.filters import Filters
from aegra.auth.handlers import AuthHandlers, Resource
from aegra.auth.user import AuthenticatedUser
from aegra.graphs.registry import system_assistant_id

# Keys of `config.configurable` (and `context`) that only the server may set: a client must not pose as a user.
RESERVED_AUTH_KEYS = frozenset({"langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions"})


@dataclass(frozen=True, slots=True)
class Authorizer:
    """Runs the configured `@auth.on` handlers for one request; a no-op when no auth is configured."""

    handlers: AuthHandlers | None = None
    user: AuthenticatedUser | None = None

    @property
    def enabled(self) -> bool:
        return self.handlers is not None and self.user is not None

    async def authorize(self, resource: Resource, action: str, value: dict[str, Any]) -> Filters | None:
        """The filters `resource.action` must satisfy (None: no restriction); the handler may edit `value`."""
        if self.handlers is None or self.user is None:
            return None
        return await self.handlers.authorize(self.user, resource, action, value)

    async def assistant_filters(self, assistant_id: uuid.UUID, graph_id: str) -> Filters | None:
        """The `assistants.read` filters a run or cron on this assistant must satisfy (system assistants: none).

        Like langgraph-api, the value carries only the id, so a client cannot steer the decision.
        """
        if not self.enabled or assistant_id == system_assistant_id(graph_id):
            return None
        return await self.authorize("assistants", "read", {"assistant_id": assistant_id})

    def run_identity(self) -> dict[str, Any]:
        """What a run's `config.configurable` says about its user (empty values without auth)."""
        if self.user is None:
            return {"user_id": "", "langgraph_auth_user_id": "", "langgraph_auth_permissions": []}
        return {
            "user_id": self.user.identity,
            "langgraph_auth_user": self.user.to_record(),
            "langgraph_auth_user_id": self.user.identity,
            "langgraph_auth_permissions": list(self.user.permissions),
        }


NO_AUTH = Authorizer()


def without_reserved_keys(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """`values` minus the auth keys only the server sets (langgraph-api strips them from requests too)."""
    return {key: value for key, value in (values or {}).items() if key not in RESERVED_AUTH_KEYS}
