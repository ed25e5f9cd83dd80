"""`agent`: a ReAct agent with one search tool."""

from __future__ import annotations

from typing import Literal

from fake_model import chat_model
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode


@tool
def search(query: str) -> str:
    """Look something up (a canned answer, so the example needs no network)."""
    return f"Top result for {query!r}: Aegra serves LangGraph graphs over the Agent Protocol."


TOOLS = [search]


async def call_model(state: MessagesState) -> dict[str, list[AIMessage]]:
    model = chat_model().bind_tools(TOOLS)
    return {"messages": [await model.ainvoke(state["messages"])]}


def route_after_model(state: MessagesState) -> Literal["tools", "__end__"]:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


builder = StateGraph(MessagesState)
builder.add_node("model", call_model)
builder.add_node("tools", ToolNode(TOOLS))
builder.add_edge(START, "model")
builder.add_conditional_edges("model", route_after_model, ["tools", END])
builder.add_edge("tools", "model")

graph = builder.compile(name="agent")
