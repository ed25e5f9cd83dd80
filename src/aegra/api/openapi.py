"""The published OpenAPI document: Litestar's, with client errors in the shape Aegra actually sends."""

from __future__ import annotations

from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

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
