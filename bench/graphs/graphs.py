"""Bench-only graphs served identically by Aegra, aegra-api 0.11 and `langgraph dev` (see bench/compare.py).

- `echo`: one node, answers "echo: <last message>". No model, no sleep: measures the server's per-run cost.
- `tokens`: a fake chat model that streams `tokens` chunks (input key, default 1000) as fast as it can.
- `sleeper`: one node that awaits `asyncio.sleep(seconds)` (input key, default 1.0): a run that holds a slot.

Only langgraph and langchain-core are imported, so every server's own virtualenv can load this file.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langgraph.graph import END, START, MessagesState, StateGraph


def _echo(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1].content if state["messages"] else ""
    return {"messages": [AIMessage(content=f"echo: {last}")]}


echo = StateGraph(MessagesState).add_node("echo", _echo).add_edge(START, "echo").add_edge("echo", END).compile()


class TokenModel(BaseChatModel):
    """Streams `tokens` chunks ("t0 ", "t1 ", ...) with no delay between them."""

    tokens: int = 1000

    @property
    def _llm_type(self) -> str:
        return "bench-token-model"

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


class TokensState(MessagesState, total=False):
    tokens: int


async def _speak(state: TokensState) -> dict[str, Any]:
    model = TokenModel(tokens=int(state.get("tokens") or 1000))
    return {"messages": [await model.ainvoke(state["messages"])]}


tokens = StateGraph(TokensState).add_node("speak", _speak).add_edge(START, "speak").add_edge("speak", END).compile()


class SleeperState(MessagesState, total=False):
    seconds: float


async def _sleep(state: SleeperState) -> dict[str, Any]:
    seconds = float(state.get("seconds") or 1.0)
    await asyncio.sleep(seconds)
    return {"messages": [AIMessage(content=f"slept {seconds:g}s")]}


sleeper = StateGraph(SleeperState).add_node("sleep", _sleep).add_edge(START, "sleep").add_edge("sleep", END).compile()
