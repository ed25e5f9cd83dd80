"""Test auth: fixed bearer tokens name the user; every resource is stamped with and filtered by its owner.

`reader` may read but every write is denied (403); the store is scoped per user by namespace prefix.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

USERS: dict[str, Auth.types.MinimalUserDict] = {
    "token-a": {"identity": "user-a", "permissions": ["read", "write"], "display_name": "Alice"},
    "token-b": {"identity": "user-b", "permissions": ["read", "write"], "display_name": "Bob"},
    "token-reader": {"identity": "reader", "permissions": ["read"]},
}
WRITE_ACTIONS = frozenset({"create", "update", "delete", "create_run", "put"})

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """`Authorization: Bearer <token>` with one of the tokens above."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Missing bearer token")
    user = USERS.get(token)
    if user is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid token")
    return user


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Auth.types.FilterType | bool:
    """Writes need the `write` permission; new resources are stamped with their owner; all access is filtered."""
    if ctx.action in WRITE_ACTIONS and "write" not in ctx.permissions:
        return False
    if ctx.action in ("create", "create_run", "update"):
        value.setdefault("metadata", {})["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool | None:
    """Every store namespace starts with the caller's identity."""
    if ctx.action in WRITE_ACTIONS and "write" not in ctx.permissions:
        return False
    namespace = tuple(value.get("namespace") or ())
    if not namespace or namespace[0] != ctx.user.identity:
        value["namespace"] = (ctx.user.identity, *namespace)
    return None
