"""OpenTelemetry: exporters chosen by OTEL_TARGETS, HTTP spans via Litestar's ASGI instrumentation, and a
LangChain callback that turns a run's chains, model calls and tools into spans. Off unless targets are set."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Mapping, Sequence
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


class RunSpanCallback(BaseCallbackHandler):
    """Spans for a run's chains, chat models, LLMs and tools, nested under the run's span."""

    run_inline = True
    raise_error = False

    def __init__(self, tracer: Tracer, root: Span) -> None:
        self.tracer = tracer
        self.root = root
        self.spans: dict[uuid.UUID, Span] = {}

    def _start(self, kind: str, name: str, run_id: uuid.UUID, parent_run_id: uuid.UUID | None) -> None:
        parent = self.spans.get(parent_run_id) if parent_run_id is not None else None
        context = trace.set_span_in_context(parent or self.root)
        span = self.tracer.start_span(f"{kind} {name}", context=context, attributes={"langchain.kind": kind})
        self.spans[run_id] = span

    def _end(self, run_id: uuid.UUID, error: BaseException | None = None) -> None:
        span = self.spans.pop(run_id, None)
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end()

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            "chain", str(kwargs.get("name") or (serialized or {}).get("name") or "chain"), run_id, parent_run_id
        )

    def on_chain_end(self, outputs: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            "chat_model", str(kwargs.get("name") or (serialized or {}).get("name") or "model"), run_id, parent_run_id
        )

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: Any,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start("llm", str(kwargs.get("name") or (serialized or {}).get("name") or "llm"), run_id, parent_run_id)

    def on_llm_end(self, response: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start("tool", str(kwargs.get("name") or (serialized or {}).get("name") or "tool"), run_id, parent_run_id)

    def on_tool_end(self, output: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end(run_id, error)
