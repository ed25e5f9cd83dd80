"""Graphs that report who runs them: through `config["configurable"]` and through the `ServerRuntime`."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph_sdk.runtime import ServerRuntime


class Identity(TypedDict, total=False):
    user_id: str
    user_identity: str
    user_attribute: str
    display_name: str
    permissions: list[str]
    built_for: str


def _whoami(state: Identity, config: RunnableConfig) -> dict[str, Any]:
    configurable = config["configurable"]
    user = configurable["langgraph_auth_user"]
    return {
        "user_id": configurable["langgraph_auth_user_id"],
        "user_identity": user["identity"],
        "user_attribute": user.identity,
        "display_name": user["display_name"],
        "permissions": list(configurable["langgraph_auth_permissions"]),
    }


def _builder() -> StateGraph:
    return StateGraph(Identity).add_node("whoami", _whoami).add_edge(START, "whoami").add_edge("whoami", END)


whoami = _builder().compile()


def whoami_factory(runtime: ServerRuntime) -> Any:
    """A factory: the runtime carries the user the graph is built for (also in a node name, for drawings)."""
    built_for = runtime.user.identity if runtime.user is not None else "nobody"
    node = f"built_for_{built_for}"

    def stamp(state: Identity) -> dict[str, Any]:
        return {"built_for": built_for}

    return _builder().add_node(node, stamp).add_edge(START, node).add_edge(node, END).compile()
