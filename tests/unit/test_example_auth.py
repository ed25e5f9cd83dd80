"""`examples/auth.py`: its tokens authenticate, forged or expired ones do not, and handlers stamp the owner."""

from __future__ import annotations

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
