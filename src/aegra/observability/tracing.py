"""OpenTelemetry: exporters chosen by OTEL_TARGETS, HTTP spans via Litestar's ASGI instrumentation, and a
LangChain callback that turns a run's chains, model calls and tools into spans. Off unless targets are set."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from aegra import __version__
from aegra.errors import ConfigError

logger = structlog.get_logger(__name__)

TRACER_NAME = "aegra"


def _otlp_exporter(endpoint: str | None = None, headers: Mapping[str, str] | None = None) -> SpanExporter:
    """OTLP over HTTP/protobuf, or gRPC when OTEL_EXPORTER_OTLP_PROTOCOL=grpc (standard OTEL_* envs apply)."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").lower()
    if protocol == "grpc" and endpoint is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint, headers=dict(headers) if headers else None)


def langfuse_destination(env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Langfuse's OTLP endpoint and Basic-auth header from its usual environment variables."""
    public_key = env.get("LANGFUSE_PUBLIC_KEY")
    secret_key = env.get("LANGFUSE_SECRET_KEY")
    if not public_key or not secret_key:
        raise ConfigError("OTEL_TARGETS includes LANGFUSE but LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY are not set.")
    base = env.get("LANGFUSE_BASE_URL", env.get("LANGFUSE_HOST", "https://cloud.langfuse.com")).rstrip("/")
    token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
    return f"{base}/api/public/otel/v1/traces", {"Authorization": f"Basic {token}"}


def phoenix_destination(env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Arize Phoenix's OTLP endpoint (and bearer header when PHOENIX_API_KEY is set)."""
    base = env.get("PHOENIX_COLLECTOR_ENDPOINT", "http://localhost:6006").rstrip("/")
    endpoint = base if base.endswith("/v1/traces") else f"{base}/v1/traces"
    api_key = env.get("PHOENIX_API_KEY")
    return endpoint, {"Authorization": f"Bearer {api_key}"} if api_key else {}


def build_exporters(targets: Sequence[str], env: Mapping[str, str] | None = None) -> list[SpanExporter]:
    """One exporter per target in OTEL_TARGETS (OTLP, CONSOLE, LANGFUSE, PHOENIX)."""
    source = os.environ if env is None else env
    exporters: list[SpanExporter] = []
    for target in targets:
        if target == "OTLP":
            exporters.append(_otlp_exporter())
        elif target == "CONSOLE":
            exporters.append(ConsoleSpanExporter())
        elif target == "LANGFUSE":
            exporters.append(_otlp_exporter(*langfuse_destination(source)))
        elif target == "PHOENIX":
            exporters.append(_otlp_exporter(*phoenix_destination(source)))
        else:
            raise ConfigError(f"Unknown OTEL target {target!r}.")
    return exporters


def build_tracer_provider(
    service_name: str, exporters: Sequence[SpanExporter], *, batch: bool = True
) -> TracerProvider:
    """A tracer provider exporting to each exporter (batched in the background unless `batch=False`)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "service.version": __version__}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


def _span_starter(kind: str, unnamed: str) -> Callable[..., None]:
    """An `on_<kind>_start` callback: a span `<kind> <name>` (`unnamed` when LangChain gives no name)."""

    def on_start(
        self: RunSpanCallback,
        serialized: dict[str, Any] | None,
        payload: Any,  # inputs, messages, prompts or the tool's input: not recorded
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or unnamed
        self.start_span(kind, str(name), run_id, parent_run_id)

    return on_start


class RunSpanCallback(BaseCallbackHandler):
    """Spans for a run's chains, chat models, LLMs and tools, nested under the run's span.

    Every kind of LangChain run is traced alike: its start opens a span, its end or error closes it.
    """

    run_inline = True
    raise_error = False

    def __init__(self, tracer: Tracer, root: Span) -> None:
        self.tracer = tracer
        self.root = root
        self.spans: dict[uuid.UUID, Span] = {}

    def start_span(self, kind: str, name: str, run_id: uuid.UUID, parent_run_id: uuid.UUID | None) -> None:
        """Open the span of LangChain run `run_id`, under its parent run's span (the root for a top-level run)."""
        parent = self.spans.get(parent_run_id) if parent_run_id is not None else None
        context = trace.set_span_in_context(parent or self.root)
        span = self.tracer.start_span(f"{kind} {name}", context=context, attributes={"langchain.kind": kind})
        self.spans[run_id] = span

    def end_span(self, run_id: uuid.UUID, error: BaseException | None = None) -> None:
        """Close the span of LangChain run `run_id`, recording `error` when it failed."""
        span = self.spans.pop(run_id, None)
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end()

    def _on_end(self, *_output: Any, run_id: uuid.UUID, **kwargs: Any) -> None:  # outputs, response or output
        self.end_span(run_id)

    def _on_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self.end_span(run_id, error)

    on_chain_start = _span_starter("chain", "chain")
    on_chat_model_start = _span_starter("chat_model", "model")
    on_llm_start = _span_starter("llm", "llm")
    on_tool_start = _span_starter("tool", "tool")
    on_chain_end = on_llm_end = on_tool_end = _on_end
    on_chain_error = on_llm_error = on_tool_error = _on_error
