"""`factory`: a graph built per run from the run's config (`configurable.greeting`) and the server runtime."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph


def make_graph(config: RunnableConfig, runtime: Any) -> CompiledStateGraph:
    """Build the graph; `runtime.access_context` says why the server asks (a run, a state read, ...)."""
    greeting = str((config.get("configurable") or {}).get("greeting", "Hello"))

    def greet(state: MessagesState) -> dict[str, list[AIMessage]]:
        last = str(state["messages"][-1].content) if state["messages"] else "there"
        return {"messages": [AIMessage(content=f"{greeting}, {last}!")]}

    return (
        StateGraph(MessagesState)
        .add_node("greet", greet)
        .add_edge(START, "greet")
        .add_edge("greet", END)
        .compile(name="factory")
    )
