"""Example `auth` for aegra.json: JWT bearer tokens (HS256, signed with a shared secret), one owner per resource.

Mint a development token with `python examples/auth.py alice` and send it as `Authorization: Bearer <token>`:

    client = get_client(url="http://localhost:2026", headers={"Authorization": f"Bearer {token}"})

Threads, assistants and crons are stamped with `metadata.owner` when created and filtered by it everywhere else
(searches, reads, updates, deletes, runs of a thread); store namespaces are prefixed with the caller's identity.
The secret is AEGRA_AUTH_SECRET. Without it the example falls back to a development secret that is published in
this repository, and only while the server listens on a loopback address (HOST, which `aegra serve` sets to the
address it binds): on any other address it refuses to start, since anyone could mint tokens with a public secret.
Tokens from a real identity provider (RS256/JWKS) need a JWT library; the handler shape stays the same.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from langgraph_sdk import Auth

SECRET_ENV = "AEGRA_AUTH_SECRET"
DEV_SECRET = "aegra-example-dev-secret-change-me"  # public (it is in the repository): loopback only
OWNED_RESOURCES = ["threads", "assistants", "crons"]
STAMPING_ACTIONS = frozenset({"create", "create_run", "update"})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _load_secret() -> bytes:
    """AEGRA_AUTH_SECRET, or the development secret while the server listens on loopback; else a startup error."""
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret.encode()
    host = os.environ.get("HOST") or "127.0.0.1"
    if not _is_loopback(host):
        raise RuntimeError(
            f"{SECRET_ENV} is not set and the server listens on {host}: the example's built-in secret is public, "
            f"so anyone could mint tokens. Set {SECRET_ENV} to a long random value (for instance the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or serve on 127.0.0.1."
        )
    return DEV_SECRET.encode()


SECRET = _load_secret()
auth = Auth()


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(signing_input: str) -> str:
    return _encode(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())


def create_token(
    subject: str, *, permissions: Sequence[str] = (), name: str | None = None, ttl_seconds: int = 3600
) -> str:
    """A signed token for `subject` (the user's identity), valid for `ttl_seconds`."""
    header = _encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": subject, "name": name or subject, "permissions": list(permissions)}
    claims["exp"] = int(time.time()) + ttl_seconds
    payload = _encode(json.dumps(claims).encode())
    return f"{header}.{payload}.{_sign(f'{header}.{payload}')}"


def verify_token(token: str) -> dict[str, Any]:
    """The claims of a token signed with our secret and not expired; ValueError otherwise."""
    try:
        header, payload, signature = token.split(".")
        algorithm = json.loads(_decode(header))["alg"]
        claims = json.loads(_decode(payload))
    except (ValueError, binascii.Error, KeyError, TypeError) as exc:
        raise ValueError("Malformed token") from exc
    if algorithm != "HS256" or not hmac.compare_digest(signature, _sign(f"{header}.{payload}")):
        raise ValueError("Invalid token signature")
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise ValueError("Token has no subject")
    expires = claims.get("exp")
    if not isinstance(expires, int) or expires < time.time():
        raise ValueError("Token expired")
    return claims


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """Every request needs `Authorization: Bearer <token>`; the token's subject is the user."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Missing bearer token")
    try:
        claims = verify_token(token)
    except ValueError as exc:
        raise Auth.exceptions.HTTPException(status_code=401, detail=str(exc)) from exc
    return {"identity": claims["sub"], "display_name": claims["name"], "permissions": claims["permissions"]}


@auth.on(resources=OWNED_RESOURCES)
async def owner_only(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Auth.types.FilterType:
    """New threads, runs, assistants and crons belong to their creator; everything else is filtered by owner.

    Note: system assistants (one per graph) have no owner, so they drop out of assistant searches; runs and crons
    may still name a graph id directly, as on LangGraph Platform.
    """
    if ctx.action in STAMPING_ACTIONS:
        value.setdefault("metadata", {})["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Every store namespace starts with the caller's identity: `("notes",)` becomes `("alice", "notes")`."""
    namespace = tuple(value.get("namespace") or ())
    if not namespace or namespace[0] != ctx.user.identity:
        value["namespace"] = (ctx.user.identity, *namespace)


if __name__ == "__main__":
    user = sys.argv[1] if len(sys.argv) > 1 else "alice"
    print(create_token(user, permissions=["threads:write"]))
