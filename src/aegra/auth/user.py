"""The authenticated user, whatever shape the user's `@auth.authenticate` handler returned."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aegra.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """Implements `langgraph_sdk.auth.types.BaseUser`; extra fields of a dict user stay readable by key."""

    identity: str
    display_name: str
    permissions: Sequence[str] = ()
    is_authenticated: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        if key in ("identity", "display_name", "permissions", "is_authenticated"):
            return getattr(self, key)
        return self.extra[key]

    def __contains__(self, key: object) -> bool:
        return key in ("identity", "display_name", "permissions", "is_authenticated") or key in self.extra

    def __iter__(self) -> Iterator[str]:
        yield from ("identity", "display_name", "permissions", "is_authenticated")
        yield from self.extra

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def to_record(self) -> dict[str, Any]:
        """What runs and crons keep of the user (and graphs see in `config["configurable"]["langgraph_auth_user"]`):
        who they are and what they may do, never the handler's extra keys.

        A run row is returned by the run endpoints, sent to webhooks and may execute later in another process, so
        extra claims (access tokens, emails) stay in the request that authenticated them.
        """
        return {
            "identity": self.identity,
            "display_name": self.display_name,
            "permissions": list(self.permissions),
            "is_authenticated": self.is_authenticated,
        }


def normalize_user(result: Any) -> AuthenticatedUser:
    """Accept a str identity, a `MinimalUserDict`, or an object with `identity` (and maybe `permissions`)."""
    if isinstance(result, str):
        return AuthenticatedUser(identity=result, display_name=result)
    if isinstance(result, Mapping):
        identity = result.get("identity")
        if not isinstance(identity, str) or not identity:
            raise ConfigError("The @auth.authenticate handler returned a dict without a string 'identity'.")
        extra = {key: value for key, value in result.items() if key not in ("identity", "permissions")}
        return AuthenticatedUser(
            identity=identity,
            display_name=str(result.get("display_name") or identity),
            permissions=tuple(result.get("permissions") or ()),
            is_authenticated=bool(result.get("is_authenticated", True)),
            extra={key: value for key, value in extra.items() if key not in ("display_name", "is_authenticated")},
        )
    identity = getattr(result, "identity", None)
    if not isinstance(identity, str) or not identity:
        raise ConfigError(f"The @auth.authenticate handler returned {type(result).__name__}, not a user.")
    return AuthenticatedUser(
        identity=identity,
        display_name=str(getattr(result, "display_name", identity) or identity),
        permissions=tuple(getattr(result, "permissions", ()) or ()),
        is_authenticated=bool(getattr(result, "is_authenticated", True)),
    )


def bind_run_user(config: dict[str, Any]) -> AuthenticatedUser | None:
    """The user a run was created by, rebuilt from its stored `config.configurable` (None without auth).

    The stored dict is replaced by the user object in place, so graphs can read
    `config["configurable"]["langgraph_auth_user"]` as `.identity` or `["identity"]`, as on LangGraph Platform.
    """
    configurable = config.get("configurable")
    if not isinstance(configurable, dict):
        return None
    stored = configurable.get("langgraph_auth_user")
    if stored is None:
        return None
    user = stored if isinstance(stored, AuthenticatedUser) else normalize_user(stored)
    configurable["langgraph_auth_user"] = user
    return user
