"""A deterministic chat model for the examples: streams tokens and calls tools, no API key needed.

When a provider key is in the environment (OPENAI_API_KEY or ANTHROPIC_API_KEY) and its LangChain package
is installed, `chat_model()` returns that provider's model instead.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import BaseTool


class FakeToolChatModel(BaseChatModel):
    """Calls the first bound tool once per user turn, then answers in streamed words."""

    tool_names: list[str] = []
    words_per_reply: int = 12

    @property
    def _llm_type(self) -> str:
        return "fake-tool-chat"

    def bind_tools(self, tools: Sequence[Any], **_: Any) -> FakeToolChatModel:
        names = [tool.name if isinstance(tool, BaseTool) else getattr(tool, "__name__", str(tool)) for tool in tools]
        return self.model_copy(update={"tool_names": names})

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1] if messages else None
        if self.tool_names and not isinstance(last, ToolMessage):
            query = str(last.content) if last is not None else ""
            call = {"name": self.tool_names[0], "args": {"query": query}, "id": f"call_{uuid.uuid4().hex[:12]}"}
            return AIMessage(content="", tool_calls=[call])
        topic = str(last.content) if last is not None else "nothing"
        words = f"Here is what I found about {topic}.".split()
        filler = ["This", "reply", "comes", "from", "a", "fake", "model", "streaming", "word", "by", "word."]
        while len(words) < self.words_per_reply:
            words.append(filler[len(words) % len(filler)])
        return AIMessage(content=" ".join(words))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._reply(messages)
        message_id = f"run-{uuid.uuid4()}"
        if reply.tool_calls:
            chunk = AIMessageChunk(
                content="",
                id=message_id,
                tool_call_chunks=[
                    {"name": call["name"], "args": _json(call["args"]), "id": call["id"], "index": 0}
                    for call in reply.tool_calls
                ],
            )
            yield ChatGenerationChunk(message=chunk)
            return
        tokens = str(reply.content).split(" ")
        for index, token in enumerate(tokens):
            text = token if index == 0 else f" {token}"
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text, id=message_id))
            if run_manager is not None:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def chat_model() -> BaseChatModel:
    """A real provider model when its key and package are present, else the fake one."""
    if os.environ.get("OPENAI_API_KEY") and importlib.util.find_spec("langchain_openai"):
        from langchain_openai import ChatOpenAI  # type: ignore[import-not-found]

        return ChatOpenAI(model=os.environ.get("AEGRA_EXAMPLE_MODEL", "gpt-4o-mini"))
    if os.environ.get("ANTHROPIC_API_KEY") and importlib.util.find_spec("langchain_anthropic"):
        from langchain_anthropic import ChatAnthropic  # type: ignore[import-not-found]

        return ChatAnthropic(model=os.environ.get("AEGRA_EXAMPLE_MODEL", "claude-3-5-haiku-latest"))
    return FakeToolChatModel()
