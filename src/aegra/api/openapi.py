"""The published OpenAPI document: Litestar's, with client errors in the shape Aegra actually sends, built when it
is first asked for (building it costs ~0.2 s of CPU, a tenth of a warm start, and most processes never serve it)."""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.types import ASGIApp, Receive, Scope, Send

ERROR_SCHEMA_NAME = "ErrorResponse"
CLIENT_ERRORS = "4XX"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def error_schema() -> Schema:
    """`schemas.common.ErrorResponse`: every error body is `{"detail": "<message>"}`."""
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["detail"],
        properties={"detail": Schema(type=OpenAPIType.STRING)},
        description="Every error reaches clients in this shape.",
    )


def client_error_response() -> OpenAPIResponse:
    return OpenAPIResponse(
        description="Client error (400 bad request, 404 not found, 409 conflict, 413 body too large, 422 invalid "
        'input): `{"detail": "<message>"}`',
        content={"application/json": OpenAPIMediaType(schema=Reference(f"#/components/schemas/{ERROR_SCHEMA_NAME}"))},
    )


def document_client_errors(openapi: OpenAPI) -> OpenAPI:
    """Replace the 4xx responses Litestar documents (its own `{status_code, detail, extra}` validation error, sent
    as 400) with one `4XX` response of `ErrorResponse`, which is what the error handlers send for any client error."""
    openapi.components.schemas = {**(openapi.components.schemas or {}), ERROR_SCHEMA_NAME: error_schema()}
    for path_item in (openapi.paths or {}).values():
        for method in HTTP_METHODS:
            operation: Operation | None = getattr(path_item, method, None)
            if operation is None or operation.responses is None:
                continue
            responses = {code: response for code, response in operation.responses.items() if not code.startswith("4")}
            operation.responses = {**responses, CLIENT_ERRORS: client_error_response()}
    return openapi


class DocumentedLitestar(Litestar):
    """Litestar whose `openapi_schema` is the published document: Litestar builds its own on first use (and again
    after a route is added), and each build gets `document_client_errors` once, before anyone reads it."""

    _documented: OpenAPI | None = None

    @property
    def openapi_schema(self) -> OpenAPI:
        openapi = super().openapi_schema
        if self._documented is not openapi:
            self._documented = document_client_errors(openapi)
        return openapi


def docs_router(path: str) -> Router:
    """The router Litestar puts its documentation pages on (`OpenAPIConfig.openapi_router`). They read Litestar's
    cached document directly, so its middleware has the published one built first."""
    return Router(path, route_handlers=[], include_in_schema=False, dto=None, return_dto=None, middleware=[_documented])


def _documented(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        scope["litestar_app"].openapi_schema  # noqa: B018 - builds and documents the document the pages serve
        await app(scope, receive, send)

    return middleware
