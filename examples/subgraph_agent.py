"""`subgraph_agent`: a parent graph that plans, then hands over to a compiled research subgraph."""

from __future__ import annotations

from typing import Annotated, TypedDict

from fake_model import chat_model
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import add_messages


class ResearchState(TypedDict):
    messages: Annotated[list, add_messages]
    notes: list[str]


def gather(state: ResearchState) -> dict[str, list[str]]:
    get_stream_writer()({"stage": "gather"})
    topic = str(state["messages"][-1].content) if state["messages"] else ""
    return {"notes": [f"note about {topic}"]}


async def summarize(state: ResearchState) -> dict[str, list[AIMessage]]:
    reply = await chat_model().ainvoke(state["messages"])
    return {"messages": [reply]}


research = (
    StateGraph(ResearchState)
    .add_node("gather", gather)
    .add_node("summarize", summarize)
    .add_edge(START, "gather")
    .add_edge("gather", "summarize")
    .add_edge("summarize", END)
    .compile(name="research")
)


def plan(state: MessagesState) -> dict[str, list[AIMessage]]:
    return {"messages": [AIMessage(content="Plan: research the question, then summarize.")]}


graph = (
    StateGraph(MessagesState)
    .add_node("plan", plan)
    .add_node("research", research)
    .add_edge(START, "plan")
    .add_edge("plan", "research")
    .add_edge("research", END)
    .compile(name="subgraph_agent")
)
