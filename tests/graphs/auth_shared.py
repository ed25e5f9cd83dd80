"""Test auth where reading is shared and writing is not: a resource lists its `viewers`, who may read it; only its
`owner` may change, cancel or delete it. Creating stamps both. Create handlers return no filter (as many real ones
do), so what `if_exists="do_nothing"` may return is decided by the read rule alone.

`reader` may read but every write is denied (403). `user-c` carries extra claims (an access token, an email) that
must stay in the request: runs, crons and webhooks keep only who the user is and what they may do. Its `tenant`
claim is copied into its runs' configurable by the `create_run` handler, the documented way to keep one.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

SECRET_TOKEN = "upstream-access-token-3f9c"
USERS: dict[str, dict[str, Any]] = {
    "token-a": {"identity": "user-a", "permissions": ["read", "write"], "display_name": "Alice"},
    "token-b": {"identity": "user-b", "permissions": ["read", "write"], "display_name": "Bob"},
    "token-reader": {"identity": "reader", "permissions": ["read"]},
    "token-c": {
        "identity": "user-c",
        "permissions": ["read", "write"],
        "display_name": "Carol",
        "access_token": SECRET_TOKEN,
        "email": "carol@example.com",
        "tenant": "acme",
    },
}
READ_ACTIONS = frozenset({"read", "search"})

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> dict[str, Any]:
    """`Authorization: Bearer <token>` with one of the tokens above."""
    scheme, _, token = (authorization or "").partition(" ")
    user = USERS.get(token) if scheme.lower() == "bearer" else None
    if user is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid token")
    return user


@auth.on
async def shared_reads(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Auth.types.FilterType | bool | None:
    """Viewers read; writers need `write`; creating stamps owner and viewers; the owner alone changes things."""
    me = ctx.user.identity
    if ctx.action in READ_ACTIONS:
        return {"viewers": {"$contains": me}}
    if "write" not in ctx.permissions:
        return False
    if ctx.action in ("create", "create_run"):
        metadata = value.setdefault("metadata", {})
        metadata["owner"] = me
        metadata["viewers"] = sorted({me, *metadata.get("viewers", [])})
        if ctx.action == "create_run" and (tenant := ctx.user.get("tenant")):  # a claim handed to the run on purpose
            value["kwargs"]["config"]["configurable"]["tenant"] = tenant
        return {"owner": me} if ctx.action == "create_run" else None
    return {"owner": me}
