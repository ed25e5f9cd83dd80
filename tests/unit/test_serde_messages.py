"""Messages encode to exactly what pydantic's JSON dump of them gives, whichever path the encoder takes."""

from __future__ import annotations

import orjson
import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessageChunk,
    ToolMessage,
)

from aegra import serde

MESSAGES = [
    AIMessageChunk(content="t1 ", id="run-1"),
    AIMessageChunk(content="", tool_call_chunks=[{"name": "f", "args": '{"a"', "id": "c1", "index": 0}]),
    AIMessage(
        content=[{"type": "text", "text": "hi"}],
        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        response_metadata={"model_name": "m", "finish_reason": "stop"},
    ),
    HumanMessage(content="hi", name="bob", additional_kwargs={"x": [1, 2.5, None, {"y": "z"}]}),
    HumanMessage(content="with an extra field", tags_of_mine=["a"]),
    SystemMessageChunk(content="s"),
    ChatMessage(content="c", role="critic"),
    ToolMessage(content="42", tool_call_id="c1", artifact={"rows": 3}),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda message: type(message).__name__)
def test_a_message_encodes_like_its_pydantic_json_dump(message: BaseMessage) -> None:
    expected = orjson.dumps(message.model_dump(mode="json"))

    encoded = serde.dumps(message)

    assert encoded == expected


def test_a_streamed_chunk_and_its_metadata_encode_as_a_pair() -> None:
    chunk = AIMessageChunk(content="t1 ", id="run-1")
    metadata = {"langgraph_node": "speak", "langgraph_step": 1}

    encoded = serde.dumps((chunk, metadata))

    assert orjson.loads(encoded) == [chunk.model_dump(mode="json"), metadata]
