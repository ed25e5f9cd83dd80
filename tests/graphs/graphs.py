"""Small deterministic graphs for tests: no network, no model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypedDict

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config, get_store, get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.store.base import BaseStore
from langgraph.types import interrupt


def _echo(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1].content if state["messages"] else ""
    return {"messages": [AIMessage(content=f"echo: {last}")]}


echo = StateGraph(MessagesState).add_node("echo", _echo).add_edge(START, "echo").add_edge("echo", END).compile()


def _chat(state: MessagesState) -> dict[str, Any]:
    writer = get_stream_writer()
    writer({"progress": "starting", "step": 1})
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Hello there, this is a fake streamed reply.")]))
    message = model.invoke(state["messages"])
    writer({"progress": "done", "step": 2})
    return {"messages": [message]}


chat = StateGraph(MessagesState).add_node("chat", _chat).add_edge(START, "chat").add_edge("chat", END).compile()


class HitlState(TypedDict, total=False):
    answer: str
    done: bool


def _ask(state: HitlState) -> dict[str, Any]:
    return {"answer": interrupt({"question": "approve?"})}


def _finish(state: HitlState) -> dict[str, Any]:
    return {"done": True}


hitl = (
    StateGraph(HitlState)
    .add_node("ask", _ask)
    .add_node("finish", _finish)
    .add_edge(START, "ask")
    .add_edge("ask", "finish")
    .add_edge("finish", END)
    .compile()
)


def _boom(state: MessagesState) -> dict[str, Any]:
    raise ValueError("boom")


boom = StateGraph(MessagesState).add_node("boom", _boom).add_edge(START, "boom").add_edge("boom", END).compile()


class SlowState(TypedDict, total=False):
    ticks: Annotated[list[int], lambda a, b: (a or []) + (b or [])]


async def _tick(state: SlowState) -> dict[str, Any]:
    await asyncio.sleep(0.2)
    return {"ticks": [len(state.get("ticks") or [])]}


def _again(state: SlowState) -> str:
    return "tick" if len(state.get("ticks") or []) < 50 else END


slow = (
    StateGraph(SlowState)
    .add_node("tick", _tick)
    .add_edge(START, "tick")
    .add_conditional_edges("tick", _again, ["tick", END])
    .compile()
)


class NestedState(TypedDict, total=False):
    items: Annotated[list[str], lambda a, b: (a or []) + (b or [])]


_child = (
    StateGraph(NestedState)
    .add_node("sub_a", lambda state: {"items": ["sub_a"]})
    .add_node("sub_b", lambda state: {"items": ["sub_b"]})
    .add_edge(START, "sub_a")
    .add_edge("sub_a", "sub_b")
    .add_edge("sub_b", END)
    .compile()
)

nested = (
    StateGraph(NestedState)
    .add_node("parent_start", lambda state: {"items": ["parent_start"]})
    .add_node("child", _child)
    .add_edge(START, "parent_start")
    .add_edge("parent_start", "child")
    .add_edge("child", END)
    .compile()
)


class MemoryState(TypedDict, total=False):
    user_id: str
    fact: str
    recalled: list[str]


async def _remember(state: MemoryState, *, store: BaseStore) -> dict[str, Any]:
    """Read what is already known about the user (e.g. written through the API), then store the new fact."""
    namespace = ("memories", state["user_id"])
    known = await store.asearch(namespace, limit=100)
    await store.aput(namespace, f"fact-{len(known)}", {"text": state["fact"], "source": "graph"})
    return {"recalled": sorted(item.value["text"] for item in known)}


memory = (
    StateGraph(MemoryState)
    .add_node("remember", _remember)
    .add_edge(START, "remember")
    .add_edge("remember", END)
    .compile()
)


class NestedHitlState(TypedDict, total=False):
    items: Annotated[list[str], lambda a, b: (a or []) + (b or [])]


def _child_ask(state: NestedHitlState) -> dict[str, Any]:
    return {"items": [str(interrupt({"question": "child approve?"}))]}


_hitl_child = (
    StateGraph(NestedHitlState).add_node("child_ask", _child_ask).add_edge(START, "child_ask").compile(name="child")
)

nested_hitl = (
    StateGraph(NestedHitlState)
    .add_node("prepare", lambda state: {"items": ["prepared"]})
    .add_node("child", _hitl_child)
    .add_edge(START, "prepare")
    .add_edge("prepare", "child")
    .add_edge("child", END)
    .compile()
)


class TokenModel(BaseChatModel):
    """Streams `tokens` chunks as fast as it can. With `gated`, it stops after the first chunk until the store
    holds `("gates",) / <thread_id>`: proof that the first token left the server while the model still streamed."""

    tokens: int = 1000
    gated: bool = False

    @property
    def _llm_type(self) -> str:
        return "token-model"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(f"t{index} " for index in range(self.tokens))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        message_id = f"run-{uuid.uuid4()}"
        for index in range(self.tokens):
            yield ChatGenerationChunk(message=AIMessageChunk(content=f"t{index} ", id=message_id))
            if self.gated and index == 0:
                await _wait_for_gate()


async def _wait_for_gate() -> None:
    store = get_store()
    thread_id = str(get_config()["configurable"]["thread_id"])
    # The test opens the gate over HTTP (PUT /store/items); polling the store is the only signal it can send.
    while await store.aget(("gates",), thread_id) is None:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def _speak(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    configurable = config.get("configurable") or {}
    model = TokenModel(tokens=int(configurable.get("tokens", 1000)), gated=bool(configurable.get("gated", False)))
    return {"messages": [await model.ainvoke(state["messages"])]}


tokens = StateGraph(MessagesState).add_node("speak", _speak).add_edge(START, "speak").add_edge("speak", END).compile()
