"""`agent_hitl`: the ReAct agent, but a human approves each tool call first (via `interrupt()`)."""

from __future__ import annotations

from typing import Any, Literal

from agent import TOOLS, call_model
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, interrupt


def approve(state: MessagesState) -> Command[Literal["tools", "model"]]:
    """Pause for a human decision: `{"approved": true}` runs the tool, anything else skips it."""
    last = state["messages"][-1]
    assert isinstance(last, AIMessage)
    decision: Any = interrupt({"question": "Run these tool calls?", "tool_calls": last.tool_calls})
    approved = decision is True or (isinstance(decision, dict) and decision.get("approved") is True)
    if approved:
        return Command(goto="tools")
    refusals = [
        ToolMessage(content="The user declined this tool call.", tool_call_id=call["id"]) for call in last.tool_calls
    ]
    return Command(goto="model", update={"messages": refusals})


def route_after_model(state: MessagesState) -> Literal["approve", "__end__"]:
    last = state["messages"][-1]
    return "approve" if isinstance(last, AIMessage) and last.tool_calls else END


builder = StateGraph(MessagesState)
builder.add_node("model", call_model)
builder.add_node("approve", approve)
builder.add_node("tools", ToolNode(TOOLS))
builder.add_edge(START, "model")
builder.add_conditional_edges("model", route_after_model, ["approve", END])
builder.add_edge("tools", "model")

graph = builder.compile(name="agent_hitl")
