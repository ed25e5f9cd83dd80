"""A graph whose run waits at the gate its input names (see `gates`) and then ends."""

from __future__ import annotations

from typing import Any, TypedDict

from gates import gate  # the graphs folder is on sys.path (aegra.json `dependencies`)
from langgraph.graph import END, START, StateGraph


class GateState(TypedDict, total=False):
    gate: str
    passed: bool


async def _wait_at_gate(state: GateState) -> dict[str, Any]:
    await gate(state["gate"]).pass_through()
    return {"passed": True}


graph = StateGraph(GateState).add_node("wait", _wait_at_gate).add_edge(START, "wait").add_edge("wait", END).compile()
