"""Webhooks: when a run with a `webhook` URL ends, POST the run (its status, and its final values or its error)
there. The ending is queued in the durable outbox (`aegra.runs.outbox`), which retries with backoff from any
process; this module makes each attempt. A failing receiver is logged, never fails the run or the worker.

A webhook makes the server send a request where a client says, so every attempt is fenced in:
- the host is resolved once and every address it resolves to is checked: private, loopback, link-local,
  unique-local, multicast, unspecified, reserved and shared (CGNAT) addresses are refused unless
  WEBHOOK_BLOCK_PRIVATE=false, cloud metadata endpoints always (IPv4-mapped, NAT64 and 6to4 IPv6 forms are
  judged by the IPv4 address they carry);
- the connection goes to the checked address itself, while the Host header, TLS SNI and the certificate check
  still name the host, so a DNS answer that changes between check and connect (rebinding) changes nothing;
  connections are never reused (one TLS session is never lent to another host name at the same address);
- redirects are not followed; one deadline (WEBHOOK_TIMEOUT_SECONDS) covers resolving, connecting, sending and
  the answer; at most ANSWER_EXCERPT_BYTES of an answer are read; at most WEBHOOK_MAX_CONCURRENCY attempts run
  at once per process."""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import structlog

from aegra.db.models import Run as RunRow
from aegra.errors import UnprocessableError
from aegra.runs.webhook_addresses import METADATA, IPAddress, address_class
from aegra.services.serialization import iso
from aegra.settings import Settings

logger = structlog.get_logger(__name__)

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""`(host, port) -> addresses`: how a webhook host becomes IP addresses (the system resolver unless a test says)."""

SCHEMES: Final = ("http", "https")
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
MAX_URL_LENGTH: Final = 2048
RETRY_BASE_SECONDS: Final = 0.5
RETRY_CAP_SECONDS: Final = 10.0
ANSWER_EXCERPT_BYTES: Final = 512  # of an error answer, for the log; a 2xx answer's body is not read at all


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves `host` to, in its order of preference."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class WebhookRefused(Exception):
    """This server may not call the webhook's host (final: sending again changes nothing)."""


class Outcome(enum.Enum):
    """How one delivery attempt ended."""

    DELIVERED = "delivered"
    RETRY = "retry"  # connection error, timeout, 429 or 5xx: worth another attempt later
    FINAL = "final"  # refused by our rules or rejected by the receiver: another attempt would end the same


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

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.max_concurrency = settings.webhook_max_concurrency
        self.max_attempts = settings.webhook_max_attempts
        self.allowed_hosts = settings.webhook_allowed_hosts
        self.require_https = settings.webhook_require_https
        self.block_private = settings.webhook_block_private
        self._resolver = resolver
        self._slots = asyncio.Semaphore(settings.webhook_max_concurrency)
        self._transport = transport
        self._http: httpx.AsyncClient | None = None  # made by the first delivery: most processes never send one

    @property
    def _client(self) -> httpx.AsyncClient:
        """The HTTP client, made on first use (its TLS context costs ~50 ms and ~3 MB at startup otherwise)."""
        if self._http is None:
            transport = self._transport
            if transport is None:
                limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=0)
                transport = httpx.AsyncHTTPTransport(limits=limits)
            self._http = httpx.AsyncClient(timeout=self.timeout, transport=transport, follow_redirects=False)
        return self._http

    def check_url(self, url: str) -> str:
        """The URL if this server may call it; a 422 naming the rule it breaks otherwise."""
        if len(url) > MAX_URL_LENGTH:
            raise UnprocessableError(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise UnprocessableError(f"webhook must be an http(s) URL with a host, got {url!r}: {exc}") from exc
        if parsed.scheme not in SCHEMES or not parsed.raw_host:
            raise UnprocessableError(f"webhook must be an http(s) URL with a host, got {url!r}")
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise UnprocessableError(f"webhook port must be between 1 and 65535, got {parsed.port}")
        if self.require_https and parsed.scheme != "https":
            raise UnprocessableError("webhook must use https (WEBHOOK_REQUIRE_HTTPS)")
        host = parsed.raw_host.decode("ascii")
        if self.allowed_hosts and not _host_allowed(host, self.allowed_hosts):
            raise UnprocessableError(f"webhook host {host!r} is not allowed (WEBHOOK_ALLOWED_HOSTS)")
        return url

    async def deliver(self, url: str, body: bytes, *, run_id: str | None = None) -> bool:
        """POST `body` until the receiver answers 2xx, retrying with backoff what is worth retrying; True if it did."""
        for attempt in range(1, self.max_attempts + 1):
            outcome = await self.attempt(url, body, attempt=attempt, run_id=run_id)
            if outcome is not Outcome.RETRY:
                return outcome is Outcome.DELIVERED
            if attempt < self.max_attempts:
                await asyncio.sleep(min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempt - 1)))
        logger.error("webhook gave up", **_log_context(url, run_id), attempts=self.max_attempts)
        return False

    async def attempt(
        self,
        url: str,
        body: bytes,
        *,
        attempt: int = 1,
        run_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Outcome:
        """One POST of `body` (with extra `headers`) to `url` within the rules above, logged; what it came to."""
        log = logger.bind(**_log_context(url, run_id), attempt=attempt)
        async with self._slots:
            try:
                status, excerpt = await self._post(url, body, headers or {})
            except WebhookRefused as exc:
                log.warning("webhook refused", reason=str(exc))
                return Outcome.FINAL
            except TimeoutError:
                log.warning("webhook timed out", timeout=self.timeout)
                return Outcome.RETRY
            except httpx.HTTPError as exc:
                log.warning("webhook failed", error=f"{type(exc).__name__}: {exc}")
                return Outcome.RETRY
        if 200 <= status < 300:
            log.info("webhook delivered", status=status)
            return Outcome.DELIVERED
        if 300 <= status < 400:
            log.warning("webhook answered a redirect, not followed", status=status)
            return Outcome.FINAL
        log.warning("webhook answered an error", status=status, answer=excerpt.decode(errors="replace"))
        if status == 429 or status >= 500:
            return Outcome.RETRY
        return Outcome.FINAL  # the receiver rejects this payload: sending it again changes nothing

    async def aclose(self) -> None:
        """Close the HTTP client (deliveries are in the outbox: whatever is unfinished is retried)."""
        if self._http is not None:
            await self._http.aclose()

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Resolve, check, connect to the checked address and POST, all within the deadline: the answer's status and
        the start of an error answer's body (an answer cut short after its status still counts)."""
        status: int | None = None
        excerpt = b""
        try:
            async with asyncio.timeout(self.timeout):
                target = _parsed(url)
                addresses = await self.checked_addresses(target)
                response = await self._send_pinned(target, body, addresses, headers)
                try:
                    status = response.status_code
                    if not response.is_success:
                        excerpt = await _read_at_most(response, ANSWER_EXCERPT_BYTES)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.HTTPError):
            if status is None:
                raise  # no answer at all: the attempt failed
            return status, excerpt
        return response.status_code, excerpt

    async def checked_addresses(self, url: httpx.URL) -> list[str]:
        """Every address the URL's host resolves to, once; WebhookRefused when one of them is out of bounds."""
        host = url.raw_host.decode("ascii")
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [host]
        else:
            try:
                addresses = list(dict.fromkeys(await self._resolver(host, _port(url))))
            except OSError as exc:
                raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
            if not addresses:
                raise httpx.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            kind = address_class(ipaddress.ip_address(address))
            if kind is None or (kind != METADATA and not self.block_private):
                continue
            named = f"{host} is" if literal is not None else f"{host} resolves to {address},"
            opt_out = "" if kind == METADATA else "; WEBHOOK_BLOCK_PRIVATE=false allows it (local development only)"
            raise WebhookRefused(f"{named} a {kind} address{opt_out}")
        return addresses

    async def _send_pinned(
        self, url: httpx.URL, body: bytes, addresses: Sequence[str], headers: Mapping[str, str]
    ) -> httpx.Response:
        """POST to the checked addresses in order until one accepts the connection; the answer, its body unread."""
        *earlier, last = addresses
        for address in earlier:
            try:
                return await self._send_to(address, url, body, headers)
            except httpx.ConnectError:
                continue  # the next checked address
        return await self._send_to(last, url, body, headers)

    async def _send_to(self, address: str, url: httpx.URL, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST to `url` over a connection to `address`, naming the URL's host in the Host header and to TLS."""
        try:
            pinned = url.copy_with(host=address)
        except httpx.InvalidURL as exc:  # e.g. a scoped IPv6 address, only reachable with the check off
            raise WebhookRefused(f"cannot connect to {address}: {exc}") from exc
        request = self._client.build_request(
            "POST",
            pinned,
            content=body,
            headers={**headers, "host": url.netloc.decode("ascii"), "content-type": "application/json"},
            extensions={"sni_hostname": url.raw_host.decode("ascii")},
        )
        return await self._client.send(request, stream=True)


def _parsed(url: str) -> httpx.URL:
    """The URL as httpx reads it (the same parser check_url used), refused when it cannot be called."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise WebhookRefused(f"not a callable URL: {exc}") from exc
    if parsed.scheme not in SCHEMES or not parsed.raw_host:
        raise WebhookRefused("not an http(s) URL with a host")
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port if url.port is not None else DEFAULT_PORTS[url.scheme]


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The first `limit` bytes of a streamed answer (as sent: no decompression); the rest is never read."""
    if response.is_stream_consumed:  # an answer built in memory (a test transport), not a stream
        return response.content[:limit]
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
    return b"".join(chunks)


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """`example.com` allows that host; `*.example.com` its subdomains."""
    for pattern in allowed:
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


def _log_context(url: str, run_id: str | None) -> dict[str, str]:
    """What every webhook log line names: the URL (redacted) and, when known, the run."""
    return {"webhook": _redacted(url)} | ({"run_id": run_id} if run_id is not None else {})


def _redacted(url: str) -> str:
    """The URL without its query string and credentials (they often carry tokens)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(not a URL)"
    port = f":{parsed.port}" if parsed.port is not None else ""
    host = parsed.raw_host.decode("ascii")
    host = f"[{host}]" if ":" in host else host
    return f"{parsed.scheme}://{host}{port}{parsed.path}"
