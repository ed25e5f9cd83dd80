"""Webhooks: when a run with a `webhook` URL ends, POST the run (its status, and its final values or its error)
there, with a timeout and retries. Deliveries run in the background: a failing receiver is logged, never fails
the run or the worker. Which URLs are accepted is a setting (only http and https; optionally https only, listed
hosts only, no private addresses)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import structlog

from aegra import serde
from aegra.db.models import Run as RunRow
from aegra.errors import UnprocessableError
from aegra.services.serialization import iso
from aegra.settings import Settings

logger = structlog.get_logger(__name__)

SCHEMES: Final = ("http", "https")
MAX_URL_LENGTH: Final = 2048
RETRY_BASE_SECONDS: Final = 0.5
RETRY_CAP_SECONDS: Final = 10.0


def run_payload(
    row: RunRow, *, status: str, values: Any, error: Mapping[str, Any] | None, ended_at: datetime
) -> dict[str, Any]:
    """What a webhook receives: the run as the API shows it, how it ended, and its values or its error."""
    return {
        "run_id": str(row.run_id),
        "thread_id": str(row.thread_id),
        "assistant_id": str(row.assistant_id),
        "metadata": row.metadata_,
        "status": status,
        "kwargs": row.kwargs,
        "multitask_strategy": row.multitask_strategy,
        "created_at": iso(row.created_at),
        "updated_at": iso(ended_at),
        "attempt": row.attempt,
        "run_started_at": iso(row.updated_at),
        "run_ended_at": iso(ended_at),
        "webhook_sent_at": iso(datetime.now(UTC)),
        "values": None if error is not None else values,
        "error": dict(error) if error is not None else None,
    }


class WebhookSender:
    """Validates webhook URLs and delivers run endings to them; one per process, closed by the app lifespan."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.max_attempts = settings.webhook_max_attempts
        self.allowed_hosts = settings.webhook_allowed_hosts
        self.require_https = settings.webhook_require_https
        self.block_private = settings.webhook_block_private
        self._client = httpx.AsyncClient(timeout=self.timeout, transport=transport, follow_redirects=False)
        self._deliveries: set[asyncio.Task[bool]] = set()

    def check_url(self, url: str) -> str:
        """The URL if this server may call it; a 422 naming the rule it breaks otherwise."""
        if len(url) > MAX_URL_LENGTH:
            raise UnprocessableError(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise UnprocessableError(f"webhook must be an http(s) URL with a host, got {url!r}")
        if self.require_https and parts.scheme != "https":
            raise UnprocessableError("webhook must use https (WEBHOOK_REQUIRE_HTTPS)")
        if self.allowed_hosts and not _host_allowed(parts.hostname.lower(), self.allowed_hosts):
            raise UnprocessableError(f"webhook host {parts.hostname!r} is not allowed (WEBHOOK_ALLOWED_HOSTS)")
        return url

    def send(self, url: str, payload: Mapping[str, Any]) -> None:
        """Deliver in the background (the caller never waits for the receiver)."""
        task = asyncio.create_task(self.deliver(url, serde.dumps(payload)), name="aegra-webhook")
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def deliver(self, url: str, body: bytes) -> bool:
        """POST `body` until the receiver answers 2xx, retrying transport errors, 429 and 5xx; True if it did."""
        log = logger.bind(webhook=_redacted(url))
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._check_address(url)
                response = await self._client.post(url, content=body, headers={"content-type": "application/json"})
            except UnprocessableError as exc:
                log.warning("webhook refused", error=exc.detail)
                return False
            except httpx.HTTPError as exc:
                log.warning("webhook failed", attempt=attempt, error=f"{type(exc).__name__}: {exc}")
            else:
                if response.is_success:
                    log.info("webhook delivered", status=response.status_code, attempt=attempt)
                    return True
                log.warning("webhook answered an error", status=response.status_code, attempt=attempt)
                if response.status_code != 429 and response.status_code < 500:
                    return False  # the receiver rejects this payload: sending it again changes nothing
            if attempt < self.max_attempts:
                await asyncio.sleep(min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempt - 1)))
        log.error("webhook gave up", attempts=self.max_attempts)
        return False

    async def aclose(self, *, grace: float) -> None:
        """Give deliveries in flight `grace` seconds, then drop them and close the HTTP client."""
        pending = list(self._deliveries)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace) if grace > 0 else (set(), set(pending))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            if late:
                logger.warning("webhooks dropped at shutdown", count=len(late))
        await self._client.aclose()

    async def _check_address(self, url: str) -> None:
        """With WEBHOOK_BLOCK_PRIVATE, refuse hosts that resolve to loopback, private or link-local addresses."""
        if not self.block_private:
            return
        host = urlsplit(url).hostname or ""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                raise UnprocessableError(f"{host} resolves to a non-public address (WEBHOOK_BLOCK_PRIVATE)")


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """`example.com` allows that host; `*.example.com` its subdomains."""
    for pattern in allowed:
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


def _redacted(url: str) -> str:
    """The URL without its query string and credentials (they often carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
