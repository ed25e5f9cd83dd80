"""Graphs for the durability tests: they show which attempt of a run executed each step, and which process."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph


def _appended(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    return (left or []) + (right or [])


class StepsState(TypedDict, total=False):
    starts: Annotated[list[int], _appended]
    steps: Annotated[list[int], _appended]


def _attempt(config: RunnableConfig) -> int:
    return int((config.get("metadata") or {}).get("run_attempt", 0))


def _begin(state: StepsState, config: RunnableConfig) -> dict[str, Any]:
    """Runs once per execution from the input: a run resumed from a checkpoint does not run it again."""
    return {"starts": [_attempt(config)]}


async def _step(state: StepsState, config: RunnableConfig) -> dict[str, Any]:
    await asyncio.sleep(float((config.get("configurable") or {}).get("delay", 0.2)))
    return {"steps": [_attempt(config)]}


def _more(state: StepsState, config: RunnableConfig) -> str:
    wanted = int((config.get("configurable") or {}).get("steps", 10))
    return "step" if len(state.get("steps") or []) < wanted else END


steps = (
    StateGraph(StepsState)
    .add_node("begin", _begin)
    .add_node("step", _step)
    .add_edge(START, "begin")
    .add_edge("begin", "step")
    .add_conditional_edges("step", _more, ["step", END])
    .compile()
)


class CountState(TypedDict, total=False):
    pid: int


async def _count(state: CountState, config: RunnableConfig) -> dict[str, Any]:
    """Records each execution in the store (one item per execution), with the process that ran it."""
    configurable = config.get("configurable") or {}
    await asyncio.sleep(float(configurable.get("delay", 0.0)))
    stall = float(configurable.get("first_attempt_delay", 0.0))
    if stall and _attempt(config) <= 1:  # a first attempt that stalls long enough to lose its process
        await get_store().aput(("stalls",), str(configurable["run_id"]), {"pid": os.getpid()}, index=False)
        await asyncio.sleep(stall)
    item = {"run_id": str(configurable["run_id"]), "pid": os.getpid()}
    await get_store().aput(("executions",), uuid.uuid4().hex, item, index=False)
    return {"pid": os.getpid()}


count = StateGraph(CountState).add_node("count", _count).add_edge(START, "count").add_edge("count", END).compile()


class SleepState(TypedDict, total=False):
    slept: float


async def _sleep(state: SleepState, config: RunnableConfig) -> dict[str, Any]:
    seconds = float((config.get("configurable") or {}).get("seconds", 1.0))
    await asyncio.sleep(seconds)
    return {"slept": seconds}


sleeper = StateGraph(SleepState).add_node("sleep", _sleep).add_edge(START, "sleep").add_edge("sleep", END).compile()
