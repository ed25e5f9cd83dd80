"""create_app: the Litestar application with its controllers, error mapping, CORS and lifespan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
import structlog
from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.types import ASGIApp
from sqlalchemy.exc import SQLAlchemyError

from aegra import __version__
from aegra.api.assistants import AssistantController
from aegra.api.crons import CronController, ThreadCronController
from aegra.api.custom_openapi import custom_openapi, merge_openapi
from aegra.api.dependencies import request_dependencies
from aegra.api.inputs import client_data_error, reject_unstorable_input
from aegra.api.openapi import DocumentedLitestar, docs_router
from aegra.api.runs import RunController, ThreadRunController
from aegra.api.store import StoreController
from aegra.api.system import SystemController, ok_only
from aegra.api.thread_streams import ThreadStreamController
from aegra.api.threads import ThreadController
from aegra.auth.handlers import AuthHandlers
from aegra.auth.middleware import AuthenticationMiddleware
from aegra.config import AegraConfig, HttpConfig
from aegra.custom_routes import mount_custom_app
from aegra.db.availability import unavailable
from aegra.errors import ApiError, OverloadedError
from aegra.graphs.registry import GraphRegistry
from aegra.inspector.routes import inspector_router
from aegra.interop.routes import mount_interop
from aegra.observability.metrics import Metrics
from aegra.observability.middleware import RequestObservabilityMiddleware, record_unrouted
from aegra.process import Lifespan, build_lifespan
from aegra.settings import Settings

if TYPE_CHECKING:
    from litestar.plugins import PluginProtocol
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = structlog.get_logger(__name__)

# Litestar reports undecodable JSON bodies as 400 with these messages; langgraph-api answers 422.
MALFORMED_JSON_PREFIXES = ("JSON is malformed", "Input data was truncated", "Invalid JSON")
# ... and numbers no Python type holds (`1e400`, an integer of thousands of digits) as 400 with these.
OUT_OF_RANGE_NUMBER_PREFIXES = ("Number out of range", "Integer value out of range")

# Probes that would flood the access log; still counted in metrics, and logged when they fail.
QUIET_PATHS = frozenset({"/ok", "/health", "/metrics"})

DEFAULT_EXPOSE_HEADERS = ["x-pagination-total", "x-pagination-next", "content-location", "location"]


def _validation_detail(exc: ValidationException) -> str:
    extra = exc.extra if isinstance(exc.extra, list) else []
    messages = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "")).strip()
        key = item.get("key")
        messages.append(f"{message} (at `{key}`)" if key else message)
    if messages:
        return "; ".join(messages)
    return str(exc.detail) if exc.detail else "Invalid request"


def handle_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    headers = exc.headers if isinstance(exc, OverloadedError) else None
    return Response({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Framework errors in the Agent Protocol shape; validation problems are 422 like langgraph-api."""
    if request.scope.get("route_handler") is None:
        record_unrouted(request.scope, exc.status_code, request.app.state.get("metrics"))
    if isinstance(exc, ValidationException):
        detail = _validation_detail(exc)
        return Response({"detail": detail}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
    if exc.status_code == HTTP_400_BAD_REQUEST and str(exc.detail).startswith(MALFORMED_JSON_PREFIXES):
        return Response({"detail": "Invalid JSON in request body"}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
    if exc.status_code == HTTP_400_BAD_REQUEST and str(exc.detail).startswith(OUT_OF_RANGE_NUMBER_PREFIXES):
        detail = "Invalid JSON in request body: a number is out of range"
        return Response({"detail": detail}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
    headers = dict(exc.headers or {})
    return Response({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def handle_recursion(_: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """Absurdly nested JSON bodies exhaust the decoder's recursion; that is the client's input, not our bug."""
    return Response({"detail": "Request body is nested too deeply"}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)


def handle_database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The database is unreachable: 503 naming the cause (the client may retry); any other database error is ours."""
    outage = unavailable(exc)
    if outage is None:
        return handle_unexpected(request, exc)
    logger.warning("database unavailable", path=request.url.path, method=request.method, error=str(exc))
    return handle_api_error(request, outage)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if (message := client_data_error(exc)) is not None:  # a value the database refuses: the client's input
        return Response({"detail": f"Invalid value: {message}"}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
    logger.exception("unhandled error", path=request.url.path, method=request.method, exc_info=exc)
    return Response({"detail": "Internal server error"}, status_code=HTTP_500_INTERNAL_SERVER_ERROR)


@get("/openapi.json", include_in_schema=False, media_type=MediaType.JSON)
async def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return merge_openapi(request.app.openapi_schema.to_schema(), request.app.state.get("custom_openapi"))


def _cors_config(config: AegraConfig) -> CORSConfig:
    cors = config.http.cors if config.http is not None else None
    if cors is None:
        return CORSConfig(
            allow_origins=["*"],
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=DEFAULT_EXPOSE_HEADERS,
            max_age=600,
        )
    return CORSConfig(
        allow_origins=cors.allow_origins,
        allow_methods=cors.allow_methods,  # type: ignore[arg-type]  # validated method names; Litestar wants its Literal
        allow_headers=cors.allow_headers,
        allow_credentials=cors.allow_credentials,
        allow_origin_regex=cors.allow_origin_regex,
        expose_headers=sorted({*cors.expose_headers, *DEFAULT_EXPOSE_HEADERS}),
        max_age=cors.max_age,
    )


def _route_handlers(config: AegraConfig) -> list[Any]:
    """The API's controllers and the inspector page, minus what `http.disable_*` turns off (crons go with runs)."""
    http = config.http or HttpConfig()
    handlers: list[Any] = [ok_only] if http.disable_meta else [SystemController, openapi_json]
    groups = (
        (http.disable_assistants, [AssistantController]),
        (http.disable_threads, [ThreadController]),
        (
            http.disable_runs,
            [ThreadRunController, RunController, CronController, ThreadCronController, ThreadStreamController],
        ),
        (http.disable_store, [StoreController]),
    )
    for disabled, controllers in groups:
        if not disabled:
            handlers.extend(controllers)
    if not http.disable_inspector:
        handlers.append(inspector_router())
    return handlers


def _openapi_config(config: AegraConfig) -> OpenAPIConfig | None:
    """`/docs` and `/openapi.json`, unless `http.disable_meta` turns them off."""
    if (config.http or HttpConfig()).disable_meta:
        return None
    return OpenAPIConfig(
        title="Aegra",
        version=__version__,
        description="Agent Protocol server for LangGraph graphs.",
        path="/docs",
        openapi_router=docs_router("/docs"),
        render_plugins=[ScalarRenderPlugin(path="/")],
    )


def _middleware(metrics: Metrics | None, auth: AuthHandlers | None) -> list[DefineMiddleware]:
    """Request logging and metrics, then authentication (when aegra.json configures it)."""
    middleware = [DefineMiddleware(RequestObservabilityMiddleware, metrics=metrics, quiet_paths=QUIET_PATHS)]
    if auth is not None:
        middleware.append(DefineMiddleware(AuthenticationMiddleware, handlers=auth))
    return middleware


def _plugins(tracer_provider: TracerProvider | None) -> list[PluginProtocol]:
    """HTTP spans through Litestar's OpenTelemetry plugin when tracing is on (it imports the instrumentation)."""
    if tracer_provider is None:
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return [OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=tracer_provider))]


def _mount(app: Litestar, custom_app: ASGIApp, lifespan: Lifespan, *, cors: CORSConfig, http: HttpConfig) -> None:
    """Serve `http.app`'s routes next to the API's (behind auth when `enable_custom_route_auth`)."""
    mount_custom_app(
        app,
        custom_app,
        cors=cors,
        auth=lifespan.auth,
        protect=http.enable_custom_route_auth,
        disable_meta=http.disable_meta,
        custom_state=lifespan.custom_state,
    )


def create_app(
    settings: Settings,
    config: AegraConfig,
    *,
    registry: GraphRegistry | None = None,
    span_exporters: Sequence[SpanExporter] | None = None,
) -> Litestar:
    """Build the application; graphs are imported now so a broken graph fails before serving.

    `span_exporters` replaces the exporters OTEL_TARGETS would choose (tests pass an in-memory one).
    """
    lifespan, state = build_lifespan(settings, config, registry=registry, span_exporters=span_exporters)
    cors = _cors_config(config)
    http = config.http or HttpConfig()
    app = DocumentedLitestar(
        route_handlers=_route_handlers(config),
        dependencies=request_dependencies(),
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            RecursionError: handle_recursion,
            SQLAlchemyError: handle_database_error,
            psycopg.Error: handle_database_error,
            Exception: handle_unexpected,
        },
        cors_config=cors,
        openapi_config=_openapi_config(config),
        lifespan=[lifespan],
        state=state,
        middleware=_middleware(state.metrics, lifespan.auth),
        before_request=reject_unstorable_input,
        plugins=_plugins(lifespan.tracer_provider),
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
        debug=False,
    )
    mount_interop(app, http, max_body_bytes=settings.max_body_bytes)
    if lifespan.custom_app is not None:
        _mount(app, lifespan.custom_app, lifespan, cors=cors, http=http)
        app.state.custom_openapi = custom_openapi(lifespan.custom_app)
    return app


def create_app_from_env() -> Litestar:
    """Uvicorn factory: settings from the environment, config from AEGRA_CONFIG (set by the CLI)."""
    from aegra.config import load_config
    from aegra.observability.logging import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, json_logs=settings.log_json)
    return create_app(settings, load_config(settings.config_path))
