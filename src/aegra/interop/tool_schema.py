"""Assistants as tools: a valid MCP tool name from an assistant's name, and an input schema a model can fill in
(a list of LangChain messages becomes one string: the user's message)."""

from __future__ import annotations

import re
from typing import Any, Final

TOOL_NAME_MAX_LENGTH: Final = 128  # MCP tool names match ^[a-zA-Z0-9_\-.]{1,128}$
_WHITESPACE = re.compile(r"\s+")
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_\-.]")

MESSAGE_TYPES: Final = frozenset(
    f"{kind}{suffix}"
    for kind in ("AI", "Human", "Chat", "System", "Function", "Tool")
    for suffix in ("Message", "MessageChunk")
)
SUPPORT_TYPES: Final = frozenset(
    {"ToolCall", "ToolCallChunk", "InvalidToolCall", "UsageMetadata", "InputTokenDetails", "OutputTokenDetails"}
)
_DEFS_REF = "#/$defs/"


def tool_name(assistant_name: str) -> str:
    """The MCP tool name of an assistant (whitespace runs become `_`, other invalid characters are dropped)."""
    name = _INVALID_CHARS.sub("", _WHITESPACE.sub("_", assistant_name.strip()))
    return name[:TOOL_NAME_MAX_LENGTH]


def _lists_messages(prop: Any) -> bool:
    if not isinstance(prop, dict) or prop.get("type") != "array":
        return False
    items = prop.get("items")
    candidates = (items.get("oneOf") or items.get("anyOf") or []) if isinstance(items, dict) else []
    return any(
        isinstance(candidate, dict)
        and str(candidate.get("$ref", "")).startswith(_DEFS_REF)
        and str(candidate["$ref"])[len(_DEFS_REF) :] in MESSAGE_TYPES
        for candidate in candidates
    )


def tool_input_schema(input_schema: dict[str, Any] | None) -> dict[str, Any]:
    """The graph's input JSON schema for a tool: message lists as a string, LangChain's definitions dropped, and
    always an object at the root (MCP requires `type: "object"`)."""
    schema = dict(input_schema or {})
    defs = schema.get("$defs")
    if isinstance(defs, dict) and MESSAGE_TYPES & set(defs):
        kept = {name: value for name, value in defs.items() if name not in MESSAGE_TYPES | SUPPORT_TYPES}
        if kept:
            schema["$defs"] = kept
        else:
            schema.pop("$defs")
        properties = dict(schema.get("properties") or {})
        for key, prop in properties.items():
            if _lists_messages(prop):
                title = prop.get("title", key)
                properties[key] = {
                    "type": "string",
                    "title": title,
                    "description": "The user message to send to the agent.",
                }
        schema["properties"] = properties
    schema.setdefault("type", "object")
    return schema
