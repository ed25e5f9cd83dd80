"""A graph that reports which of the caller's extra claims it can see (runs must not carry them)."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph


class Seen(TypedDict, total=False):
    identity: str
    display_name: str
    permissions: list[str]
    claims: dict[str, Any]
    tenant: str | None


def _look(state: Seen, config: RunnableConfig) -> dict[str, Any]:
    configurable = config["configurable"]
    user = configurable["langgraph_auth_user"]
    return {
        "identity": user.identity,
        "display_name": user.display_name,
        "permissions": list(user.permissions),
        "claims": {key: user.get(key) for key in ("access_token", "email")},
        "tenant": configurable.get("tenant"),
    }


claims = StateGraph(Seen).add_node("look", _look).add_edge(START, "look").add_edge("look", END).compile()
