"""The pieces of MCP and A2A that need no server: tool names and schemas, A2A task ids and message input, and the
promise that building the app imports neither protocol SDK."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError

from aegra.interop.a2a_tasks import context_thread_id, parse_task_id, run_input, task_id
from aegra.interop.tool_schema import tool_input_schema, tool_name
from tests.conftest import REPO_ROOT, TEST_GRAPHS_CONFIG

MESSAGES_SCHEMA = {
    "$defs": {"AIMessage": {"type": "object"}, "HumanMessage": {"type": "object"}, "Other": {"type": "string"}},
    "properties": {
        "messages": {
            "type": "array",
            "title": "Messages",
            "items": {"oneOf": [{"$ref": "#/$defs/AIMessage"}, {"$ref": "#/$defs/HumanMessage"}]},
        },
        "topic": {"$ref": "#/$defs/Other"},
    },
    "type": "object",
}


def test_tool_names_keep_only_the_characters_mcp_allows() -> None:
    assert tool_name("  My research agent! v2.1 ") == "My_research_agent_v2.1"
    assert tool_name("x" * 300) == "x" * 128


def test_a_message_list_becomes_one_string_and_langchain_definitions_go() -> None:
    schema = tool_input_schema(MESSAGES_SCHEMA)

    assert schema["properties"]["messages"] == {
        "type": "string",
        "title": "Messages",
        "description": "The user message to send to the agent.",
    }
    assert schema["$defs"] == {"Other": {"type": "string"}}
    assert MESSAGES_SCHEMA["properties"]["messages"]["type"] == "array"  # the graph's schema is left untouched


def test_a_missing_input_schema_is_still_an_object() -> None:
    assert tool_input_schema(None) == {"type": "object"}


def test_task_ids_carry_the_context_and_the_run() -> None:
    thread, run = uuid.uuid4(), uuid.uuid4()

    assert parse_task_id(task_id(thread, run)) == (str(thread), str(run))
    with pytest.raises(TaskNotFoundError):
        parse_task_id("not-one-of-ours")


def test_message_parts_become_the_run_input() -> None:
    message = a2a.Message(parts=[a2a.Part(text="hello"), a2a.Part(text="world")])
    data = a2a.Part()
    data.data.struct_value.update({"topic": "tea"})
    message.parts.append(data)

    assert run_input(message) == {"topic": "tea", "messages": [{"role": "user", "content": "hello\nworld"}]}


def test_a_message_without_content_or_with_a_bad_context_is_invalid() -> None:
    with pytest.raises(InvalidParamsError):
        run_input(a2a.Message())
    with pytest.raises(InvalidParamsError):
        context_thread_id(a2a.Message(context_id="not-a-uuid"))


def test_building_the_app_imports_neither_protocol_sdk() -> None:
    script = (
        "import sys\n"
        "from aegra.app import create_app\n"
        "from aegra.config import load_config\n"
        "from aegra.settings import Settings\n"
        f"create_app(Settings(database_url='postgresql://u@localhost/db'), load_config({str(TEST_GRAPHS_CONFIG)!r}))\n"
        "loaded = sorted({name.split('.')[0] for name in sys.modules} & {'mcp', 'mcp_types', 'a2a'})\n"
        "print('SDKS=' + ','.join(loaded))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=True
    )

    assert [line for line in result.stdout.splitlines() if line.startswith("SDKS=")] == ["SDKS="]
