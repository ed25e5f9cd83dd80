"""One exception hierarchy for everything a client can cause; `app.py` maps it to HTTP in one handler."""

from __future__ import annotations

from typing import Any


class AegraError(Exception):
    """Base of every error Aegra raises on purpose."""


class ConfigError(AegraError):
    """A bad aegra.json or environment setting; reported at startup, never as a traceback."""


class ApiError(AegraError):
    """An error that reaches the client as `{"detail": message}` with `status_code`.

    A subclass names its status once, in its class line: `class NotFoundError(ApiError, status_code=404)`.
    """

    status_code: int = 400

    def __init_subclass__(cls, *, status_code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status_code is not None:
            cls.status_code = status_code

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequestError(ApiError, status_code=400): ...


class UnauthorizedError(ApiError, status_code=401): ...


class ForbiddenError(ApiError, status_code=403): ...


class NotFoundError(ApiError, status_code=404): ...


class ConflictError(ApiError, status_code=409): ...


class UnprocessableError(ApiError, status_code=422): ...


class ServiceUnavailableError(ApiError, status_code=503):
    """The server cannot answer right now (its database is unreachable); the client may retry."""


class HttpStatusError(ApiError):
    """An error whose status is chosen at raise time (e.g. by a user's auth handler)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code


class OverloadedError(ServiceUnavailableError):
    """The server executes all the runs it can and its queue is full; the client retries after `Retry-After`."""

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_seconds)}
