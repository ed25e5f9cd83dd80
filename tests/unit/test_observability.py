"""Logging pipeline, OTEL target parsing and the run span callback, without a server."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from typing_extensions import TypedDict

from aegra.errors import ConfigError
from aegra.observability.logging import configure_logging, render_console, render_json
from aegra.observability.tracing import (
    RunSpanCallback,
    build_exporters,
    build_tracer_provider,
    langfuse_destination,
    phoenix_destination,
)
from aegra.settings import Settings


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def test_json_log_lines_are_valid_json(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    configure_logging("INFO", json_logs=True)

    structlog.get_logger("t").info("run finished", run_id="r1")
    logging.getLogger("uvicorn.error").warning("stdlib line")

    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert records[0]["event"] == "run finished"
    assert records[0]["run_id"] == "r1"
    assert records[1]["event"] == "stdlib line"
    assert records[1]["level"] == "warning"


def test_otel_targets_are_parsed_and_validated() -> None:
    assert Settings.from_env({"OTEL_TARGETS": "otlp, Console"}).otel_targets == ("OTLP", "CONSOLE")
    with pytest.raises(ConfigError, match="unknown targets"):
        Settings.from_env({"OTEL_TARGETS": "zipkin"})


def test_langfuse_target_requires_its_keys() -> None:
    with pytest.raises(ConfigError, match="LANGFUSE_PUBLIC_KEY"):
        build_exporters(["LANGFUSE"], env={})


def test_langfuse_and_phoenix_destinations_come_from_their_env() -> None:
    env = {
        "LANGFUSE_PUBLIC_KEY": "pk",
        "LANGFUSE_SECRET_KEY": "sk",
        "LANGFUSE_BASE_URL": "http://lf:3000/",
        "PHOENIX_COLLECTOR_ENDPOINT": "http://px:6006",
        "PHOENIX_API_KEY": "key",
    }

    langfuse = langfuse_destination(env)
    phoenix = phoenix_destination(env)
    exporters = build_exporters(["LANGFUSE", "PHOENIX"], env=env)

    assert langfuse == ("http://lf:3000/api/public/otel/v1/traces", {"Authorization": "Basic cGs6c2s="})
    assert phoenix == ("http://px:6006/v1/traces", {"Authorization": "Bearer key"})
    assert [exporter._endpoint for exporter in exporters] == [langfuse[0], phoenix[0]]  # type: ignore[attr-defined]


class _State(TypedDict):
    n: int


async def test_run_callback_nests_node_spans_under_the_run_span() -> None:
    exporter = InMemorySpanExporter()
    tracer = build_tracer_provider("test", [exporter], batch=False).get_tracer("test")
    graph = (
        StateGraph(_State)
        .add_node("inc", lambda state: {"n": state["n"] + 1})
        .add_edge(START, "inc")
        .add_edge("inc", END)
        .compile()
    )

    with tracer.start_as_current_span("run") as root:
        await graph.ainvoke({"n": 1}, {"callbacks": [RunSpanCallback(tracer, root)]})

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert "chain inc" in spans
    assert spans["chain LangGraph"].parent.span_id == spans["run"].context.span_id
    assert spans["chain inc"].parent.span_id == spans["chain LangGraph"].context.span_id


async def test_run_callback_traces_chat_models_and_tools_and_marks_failures() -> None:
    exporter = InMemorySpanExporter()
    tracer = build_tracer_provider("test", [exporter], batch=False).get_tracer("test")

    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    @tool
    def explode(text: str) -> str:
        """Always fails."""
        raise ValueError(f"cannot {text}")

    model = FakeListChatModel(responses=["hi"])

    with tracer.start_as_current_span("run") as root:
        callbacks = {"callbacks": [RunSpanCallback(tracer, root)]}
        await model.ainvoke("hello", callbacks)
        await shout.ainvoke("hey", callbacks)
        with pytest.raises(ValueError, match="cannot boom"):
            await explode.ainvoke("boom", callbacks)

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["chat_model FakeListChatModel"].attributes == {"langchain.kind": "chat_model"}
    assert spans["tool shout"].parent.span_id == spans["run"].context.span_id
    assert spans["tool shout"].status.status_code is StatusCode.UNSET
    assert spans["tool explode"].status.status_code is StatusCode.ERROR
    assert spans["tool explode"].status.description == "cannot boom"


def test_json_logs_carry_exception_tracebacks(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    configure_logging("INFO", json_logs=True)

    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("t").exception("run failed")

    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["event"] == "run failed"
    assert "ValueError: boom" in record["exception"]


def test_console_lines_match_structlogs_console_renderer() -> None:
    event = {
        "timestamp": "2026-12-02T00:00:00.000000Z",
        "level": "info",
        "event": "aegra ready",
        "logger": "aegra.app",
        "database": "postgresql://u:@/db?host=/tmp",
        "graphs": ["echo", "tokens"],
        "embedded": False,
        "path": "/threads",
    }
    reference = structlog.dev.ConsoleRenderer(colors=False)

    line = render_console(None, "info", dict(event))

    assert line == reference(None, "info", dict(event))


def test_console_lines_carry_tracebacks(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    configure_logging("INFO")

    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("t").exception("run failed", run_id="r1")

    err = capsys.readouterr().err
    assert "[error    ] run failed" in err
    assert "run_id=r1" in err
    assert "ValueError: boom" in err


def test_lines_below_the_level_are_dropped(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    configure_logging("WARNING")

    structlog.get_logger("t").info("not shown")
    structlog.get_logger("t").warning("shown")
    logging.getLogger("uvicorn.error").info("stdlib not shown")

    err = capsys.readouterr().err
    assert "shown" in err
    assert "not shown" not in err


def test_json_lines_encode_ids_and_dates() -> None:
    event = {"event": "e", "run_id": uuid.UUID(int=1), "at": datetime(2026, 1, 2, tzinfo=UTC)}

    record = json.loads(render_json(None, "info", event))

    assert record == {"event": "e", "run_id": str(uuid.UUID(int=1)), "at": "2026-01-02T00:00:00+00:00"}


def test_json_lines_keep_integers_orjson_cannot_encode() -> None:
    record = json.loads(render_json(None, "info", {"event": "e", "n": 2**70}))

    assert record == {"event": "e", "n": 2**70}


def test_a_line_written_to_a_closed_stream_does_not_fail_the_caller(
    monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    # Arrange: logging configured on a stream that is closed afterwards (a test harness's capture, a dead pipe)
    import io
    import sys

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO")
    stream.close()

    # Act / Assert: the call returns like a stdlib handler's would
    structlog.get_logger("t").info("after close", key="value")
