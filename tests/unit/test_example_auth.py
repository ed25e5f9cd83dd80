"""`examples/auth.py`: its tokens authenticate, forged or expired ones do not, handlers stamp the owner, and its
public development secret is refused unless the server listens on loopback."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from aegra.auth.handlers import AuthHandlers, RequestParts
from aegra.errors import HttpStatusError
from aegra.loading import load_module

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
example = load_module("./auth.py", EXAMPLES)


def _bearer(token: str) -> RequestParts:
    headers = {b"authorization": f"Bearer {token}".encode()}
    return RequestParts(method="POST", path="/threads", path_params={}, query_params={}, headers=headers)


async def test_a_minted_token_authenticates_its_subject() -> None:
    token = example.create_token("alice", permissions=["threads:write"], name="Alice")

    user = await AuthHandlers(example.auth).authenticate(_bearer(token))

    assert user.identity == "alice"
    assert user.display_name == "Alice"
    assert list(user.permissions) == ["threads:write"]


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (example.create_token("alice", ttl_seconds=-1), "Token expired"),
        (example.create_token("alice")[:-2] + "xx", "Invalid token signature"),
        ("not-a-jwt", "Malformed token"),
    ],
)
async def test_bad_tokens_are_unauthorized(token: str, detail: str) -> None:
    with pytest.raises(HttpStatusError) as caught:
        await AuthHandlers(example.auth).authenticate(_bearer(token))

    assert caught.value.status_code == 401
    assert caught.value.detail == detail


async def test_owned_resources_are_stamped_and_filtered_and_store_namespaces_prefixed() -> None:
    handlers = AuthHandlers(example.auth)
    user = await handlers.authenticate(_bearer(example.create_token("bob")))
    thread: dict[str, Any] = {"metadata": {"topic": "x"}}
    item: dict[str, Any] = {"namespace": ("notes",), "key": "k"}

    filters = await handlers.authorize(user, "threads", "create", thread)
    read = await handlers.authorize(user, "crons", "read", {"cron_id": "c"})
    await handlers.authorize(user, "store", "put", item)

    assert thread["metadata"] == {"topic": "x", "owner": "bob"}
    assert filters == read == {"owner": "bob"}
    assert item["namespace"] == ("bob", "notes")


def _fresh_example(monkeypatch: pytest.MonkeyPatch, *, host: str | None, secret: str | None) -> dict[str, Any]:
    """Import examples/auth.py anew (as a server start does) with HOST and AEGRA_AUTH_SECRET as given."""
    for name, value in (("HOST", host), ("AEGRA_AUTH_SECRET", secret)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return runpy.run_path(str(EXAMPLES / "auth.py"))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "aegra.example.com"])
def test_the_public_secret_is_refused_off_loopback(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    with pytest.raises(RuntimeError) as caught:
        _fresh_example(monkeypatch, host=host, secret=None)

    assert "AEGRA_AUTH_SECRET is not set" in str(caught.value)
    assert f"listens on {host}" in str(caught.value)


@pytest.mark.parametrize("host", [None, "127.0.0.1", "::1", "localhost"])
def test_the_public_secret_serves_loopback(monkeypatch: pytest.MonkeyPatch, host: str | None) -> None:
    loaded = _fresh_example(monkeypatch, host=host, secret=None)

    assert loaded["SECRET"] == loaded["DEV_SECRET"].encode()


async def test_a_configured_secret_is_used_on_any_address(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _fresh_example(monkeypatch, host="0.0.0.0", secret="s3cret-from-the-environment")
    handlers = AuthHandlers(loaded["auth"])

    user = await handlers.authenticate(_bearer(loaded["create_token"]("carol")))
    with pytest.raises(HttpStatusError) as forged:
        await handlers.authenticate(_bearer(example.create_token("carol")))  # signed with the public secret

    assert loaded["SECRET"] == b"s3cret-from-the-environment"
    assert user.identity == "carol"
    assert forged.value.detail == "Invalid token signature"
