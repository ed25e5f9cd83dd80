"""Running a user's `langgraph_sdk.Auth`: authentication, handler resolution, filters."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import Auth
from sqlalchemy import Column
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.auth.filters import matches, metadata_clause
from aegra.auth.handlers import AuthHandlers, RequestParts
from aegra.auth.loader import load_auth_handlers
from aegra.auth.user import AuthenticatedUser, bind_run_user, normalize_user
from aegra.config import AegraConfig, parse_config
from aegra.errors import ConfigError, ForbiddenError, HttpStatusError, UnauthorizedError

GRAPHS_DIR = Path(__file__).resolve().parent.parent / "graphs"


def _parts(authorization: str | None = None) -> RequestParts:
    headers = {b"authorization": authorization.encode()} if authorization else {}
    return RequestParts(method="GET", path="/threads", path_params={}, query_params={"a": "1"}, headers=headers)


def _auth_with_tokens() -> Auth:
    auth = Auth()

    @auth.authenticate
    async def authenticate(authorization: str | None, path: str) -> Auth.types.MinimalUserDict:
        if authorization != "Bearer good":
            raise Auth.exceptions.HTTPException(status_code=401, detail="bad token")
        return {"identity": "alice", "permissions": ["threads:write"], "org": "acme"}

    @auth.on
    async def owner_only(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
        value.setdefault("metadata", {})["owner"] = ctx.user.identity
        return {"owner": ctx.user.identity}

    @auth.on.threads.delete
    async def no_deletes(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
        return False

    @auth.on.store
    async def allow_store(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
        return None

    return auth


async def test_authenticate_passes_the_parameters_the_handler_names() -> None:
    handlers = AuthHandlers(_auth_with_tokens())

    user = await handlers.authenticate(_parts("Bearer good"))

    assert user.identity == "alice"
    assert list(user.permissions) == ["threads:write"]
    assert user["org"] == "acme"


async def test_authenticate_failure_keeps_the_handlers_status_and_message() -> None:
    handlers = AuthHandlers(_auth_with_tokens())

    with pytest.raises(HttpStatusError) as caught:
        await handlers.authenticate(_parts("Bearer nope"))

    assert caught.value.status_code == 401
    assert caught.value.detail == "bad token"


async def test_authenticate_returning_none_is_unauthorized() -> None:
    auth = Auth()

    @auth.authenticate
    async def authenticate(headers: dict[bytes, bytes]) -> None:
        return None

    with pytest.raises(UnauthorizedError):
        await AuthHandlers(auth).authenticate(_parts())


async def test_global_handler_stamps_value_and_returns_a_filter() -> None:
    handlers = AuthHandlers(_auth_with_tokens())
    user = normalize_user({"identity": "bob"})
    value: dict[str, Any] = {"metadata": {"x": 1}}

    filters = await handlers.authorize(user, "threads", "create", value)

    assert filters == {"owner": "bob"}
    assert value["metadata"] == {"x": 1, "owner": "bob"}


async def test_specific_handler_wins_over_resource_and_global() -> None:
    handlers = AuthHandlers(_auth_with_tokens())
    user = normalize_user("bob")

    with pytest.raises(ForbiddenError):
        await handlers.authorize(user, "threads", "delete", {})
    assert await handlers.authorize(user, "store", "put", {}) is None


def test_users_normalize_from_str_dict_and_object() -> None:
    class Obj:
        identity = "carol"
        permissions = ("a",)

    assert normalize_user("u1") == AuthenticatedUser(identity="u1", display_name="u1")
    assert normalize_user({"identity": "u2", "display_name": "U Two"}).display_name == "U Two"
    assert normalize_user(Obj()).permissions == ("a",)
    with pytest.raises(ConfigError):
        normalize_user({"name": "no identity"})


@pytest.mark.parametrize(
    ("metadata", "filters", "expected"),
    [
        ({"owner": "a"}, {"owner": "a"}, True),
        ({"owner": "b"}, {"owner": "a"}, False),
        ({"owner": "a"}, {"owner": {"$eq": "a"}}, True),
        ({"team": ["a", "b"]}, {"team": {"$contains": "a"}}, True),
        ({"team": ["a", "b"]}, {"team": {"$contains": ["a", "c"]}}, False),
        ({}, {"owner": "a"}, False),
        ({"owner": "a"}, None, True),
    ],
)
def test_filters_match_metadata(metadata: dict[str, Any], filters: dict[str, Any] | None, expected: bool) -> None:
    assert matches(metadata, filters) is expected


def test_filters_compile_to_jsonb_containment() -> None:
    column = Column("metadata", JSONB)

    clause = metadata_clause(column, {"owner": "a", "team": {"$contains": "x"}})

    sql = str(clause.compile(dialect=postgresql.dialect()))
    assert sql.count("@>") == 2


def test_unknown_filter_operator_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\$gt"):
        matches({"n": 1}, {"n": {"$gt": 0}})


def _config_with_auth(reference: str) -> AegraConfig:
    raw = f'{{"graphs": {{"echo": "./graphs.py:echo"}}, "auth": {{"path": "{reference}"}}}}'.encode()
    return parse_config(raw, source=GRAPHS_DIR / "unit.json")


def test_auth_path_loads_the_auth_object() -> None:
    handlers = load_auth_handlers(_config_with_auth("./auth.py:auth"))

    assert handlers is not None
    assert handlers.has_authenticate


def test_no_auth_key_means_no_handlers() -> None:
    raw = b'{"graphs": {"echo": "./graphs.py:echo"}}'

    assert load_auth_handlers(parse_config(raw, source=GRAPHS_DIR / "unit.json")) is None


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("./missing_auth.py:auth", r"missing_auth\.py does not exist"),
        ("./auth.py:nope", "has no attribute 'nope'"),
        ("./auth.py:USERS", "not a langgraph_sdk.Auth"),
    ],
)
def test_a_bad_auth_path_is_a_config_error_naming_key_and_file(reference: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=r"unit\.json at `auth\.path`") as caught:
        load_auth_handlers(_config_with_auth(reference))

    assert re.search(problem, str(caught.value))


async def test_a_failed_assert_in_a_handler_is_forbidden() -> None:
    auth = Auth()

    @auth.authenticate
    async def authenticate(authorization: str | None) -> str:
        return "bob"

    @auth.on.threads
    async def must_be_admin(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
        assert "admin" in ctx.permissions, "admins only"

    with pytest.raises(ForbiddenError, match="admins only"):
        await AuthHandlers(auth).authorize(normalize_user("bob"), "threads", "read", {})


async def test_without_auth_the_authorizer_allows_everything_and_names_no_user() -> None:
    assert await NO_AUTH.authorize("threads", "delete", {"thread_id": "x"}) is None
    assert NO_AUTH.run_identity() == {"user_id": "", "langgraph_auth_user_id": "", "langgraph_auth_permissions": []}


def test_a_run_user_is_rebuilt_from_its_stored_config_without_extra_claims() -> None:
    user = normalize_user({"identity": "alice", "permissions": ["p"], "display_name": "Al", "token": "secret"})
    config = {"configurable": Authorizer(None, user).run_identity()}

    stored = dict(config["configurable"]["langgraph_auth_user"])
    bound = bind_run_user(config)

    assert stored == {"identity": "alice", "display_name": "Al", "permissions": ["p"], "is_authenticated": True}
    assert config["configurable"]["langgraph_auth_user"] is bound
    assert bound is not None
    assert (bound.identity, bound.display_name, list(bound.permissions)) == ("alice", "Al", ["p"])
    assert bound.get("token") is None
    assert bind_run_user({"configurable": {}}) is None
