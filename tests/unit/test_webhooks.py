"""Webhook delivery without a server: URL rules, which addresses a webhook may reach, pinning the connection to
the checked address (DNS rebinding), the per-attempt deadline, answer reading, concurrency, and TLS to a pinned
address. Names resolve through a fake resolver and requests end in httpx's MockTransport; the only sockets are
on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from aegra.errors import ConfigError, UnprocessableError
from aegra.runs.webhooks import ANSWER_EXCERPT_BYTES, WebhookRefused, WebhookSender, address_class
from aegra.settings import Settings

PUBLIC = "93.184.215.14"  # only ever seen by MockTransport: no test opens a connection to it
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


@dataclass
class FakeResolver:
    """Answers each host with its next list of addresses (the last one repeats), recording every lookup."""

    answers: Mapping[str, Sequence[Sequence[str]]]
    lookups: list[tuple[str, int]] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        answers = self.answers.get(host)
        if not answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        asked = sum(1 for looked_up, _ in self.lookups if looked_up == host)
        return list(answers[min(asked, len(answers)) - 1])


@dataclass
class Receiver:
    """A MockTransport that records where each request went and answers with the statuses it is told to."""

    statuses: list[int] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    @property
    def hosts(self) -> list[str]:
        return [request.url.host for request in self.requests]


def _sender(
    transport: Callable[[httpx.Request], object] | None = None,
    resolver: FakeResolver | None = None,
    **settings: object,
) -> WebhookSender:
    return WebhookSender(
        Settings(**{"webhook_max_attempts": 3, **settings}),  # type: ignore[arg-type]
        transport=httpx.MockTransport(transport or Receiver()),  # type: ignore[arg-type]
        resolver=resolver or FakeResolver({}),
    )


# --- which addresses a webhook may reach ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456:789a::1", "unique-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("2001::1", "reserved"),  # Teredo
        ("::7f00:1", "reserved"),  # IPv4-compatible (deprecated)
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.1.1", "link-local"),
        ("::ffff:100.64.0.1", "shared (CGNAT)"),
        ("::ffff:224.0.0.1", "multicast"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("::ffff:240.0.0.1", "reserved"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::ffff:168.63.129.16", "cloud metadata"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::1", "private"),  # local-use NAT64
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
    ],
)
def test_non_public_addresses_are_named_by_their_kind(address: str, kind: str) -> None:
    assert address_class(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address",
    [
        *(PUBLIC, "1.1.1.1", "11.0.0.1", "100.63.255.255", "100.128.0.0", "172.32.0.1", "169.255.0.1", PUBLIC_V6),
        *("::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"),
    ],
)
def test_public_addresses_have_no_kind(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (["10.0.0.5"], "hooks.test resolves to 10.0.0.5, a private address; WEBHOOK_BLOCK_PRIVATE=false allows it"),
        ([PUBLIC, "127.0.0.1"], "hooks.test resolves to 127.0.0.1, a loopback address"),
        ([PUBLIC_V6, "::ffff:192.168.0.1"], "resolves to ::ffff:192.168.0.1, a private address"),
        (["169.254.169.254"], "hooks.test resolves to 169.254.169.254, a cloud metadata address"),
    ],
)
async def test_a_name_resolving_to_any_non_public_address_is_refused(answer: list[str], problem: str) -> None:
    sender = _sender(resolver=FakeResolver({"hooks.test": [answer]}))

    with pytest.raises(WebhookRefused, match=re.escape(problem)):
        await sender.checked_addresses(httpx.URL("https://hooks.test/x"))


async def test_an_address_in_the_url_is_checked_without_resolving() -> None:
    resolver = FakeResolver({})
    sender = _sender(resolver=resolver)

    with pytest.raises(WebhookRefused, match=re.escape("::1 is a loopback address")):
        await sender.checked_addresses(httpx.URL("http://[::1]:8080/x"))
    assert await sender.checked_addresses(httpx.URL(f"http://{PUBLIC}/x")) == [PUBLIC]
    assert resolver.lookups == []


async def test_a_refused_webhook_is_never_sent_nor_retried() -> None:
    receiver = Receiver()
    resolver = FakeResolver({"hooks.test": [["192.168.1.20"]]})
    sender = _sender(receiver, resolver)

    delivered = await sender.deliver("https://hooks.test/hook", b"{}")
    await sender.aclose()

    assert delivered is False
    assert receiver.requests == []
    assert resolver.lookups == [("hooks.test", 443)]


async def test_opting_out_allows_private_addresses_but_never_cloud_metadata() -> None:
    receiver = Receiver()
    resolver = FakeResolver({"local.test": [["127.0.0.1"]], "metadata.test": [["fd00:ec2::254"]]})
    sender = _sender(receiver, resolver, webhook_block_private=False)

    local = await sender.deliver("http://local.test:8123/hook", b"{}")
    metadata = await sender.deliver("http://metadata.test/latest/meta-data/", b"{}")
    literal = await sender.deliver("http://[::ffff:169.254.169.254]/latest/meta-data/", b"{}")
    await sender.aclose()

    assert (local, metadata, literal) == (True, False, False)
    assert receiver.hosts == ["127.0.0.1"]


# --- pinning: the connection goes to the address that was checked -------------------------------------------------


async def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept() -> None:
    receiver = Receiver()
    # A rebinding name: public when checked, loopback when asked again.
    resolver = FakeResolver({"hooks.test": [[PUBLIC], ["127.0.0.1"]]})
    sender = _sender(receiver, resolver)

    delivered = await sender.deliver("https://hooks.test:8443/hook?token=t", b'{"a":1}')
    await sender.aclose()

    assert delivered is True
    assert resolver.lookups == [("hooks.test", 8443)]  # resolved once: nothing else resolves it again
    (request,) = receiver.requests
    assert str(request.url) == f"https://{PUBLIC}:8443/hook?token=t"
    assert request.headers["host"] == "hooks.test:8443"
    assert request.extensions["sni_hostname"] == "hooks.test"
    assert request.content == b'{"a":1}'


async def test_every_attempt_checks_the_address_again() -> None:
    receiver = Receiver(statuses=[503])
    resolver = FakeResolver({"hooks.test": [[PUBLIC], ["127.0.0.1"]]})
    sender = _sender(receiver, resolver)

    delivered = await sender.deliver("https://hooks.test/hook", b"{}")
    await sender.aclose()

    assert delivered is False
    assert receiver.hosts == [PUBLIC]  # the retry resolved to loopback and was refused
    assert len(resolver.lookups) == 2


async def test_an_ipv6_address_is_pinned_in_brackets() -> None:
    receiver = Receiver()
    sender = _sender(receiver, FakeResolver({"hooks.test": [[PUBLIC_V6]]}))

    assert await sender.deliver("https://hooks.test/hook", b"{}") is True
    await sender.aclose()

    assert str(receiver.requests[0].url) == f"https://[{PUBLIC_V6}]/hook"
    assert receiver.requests[0].headers["host"] == "hooks.test"


async def test_the_next_checked_address_is_tried_when_one_refuses_the_connection() -> None:
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == PUBLIC_V6:
            raise httpx.ConnectError("network is unreachable", request=request)
        return httpx.Response(204)

    sender = _sender(answer, FakeResolver({"hooks.test": [[PUBLIC_V6, PUBLIC]]}))

    assert await sender.deliver("https://hooks.test/hook", b"{}") is True
    await sender.aclose()

    assert hosts == [PUBLIC_V6, PUBLIC]


async def test_a_redirect_is_not_followed() -> None:
    receiver = Receiver()

    def answer(request: httpx.Request) -> httpx.Response:
        receiver.requests.append(request)
        return httpx.Response(307, headers={"location": "http://127.0.0.1/admin"})

    sender = _sender(answer, FakeResolver({"hooks.test": [[PUBLIC]]}))

    assert await sender.deliver("https://hooks.test/hook", b"{}") is False
    await sender.aclose()

    assert receiver.hosts == [PUBLIC]


async def test_an_unresolvable_name_is_retried_then_given_up() -> None:
    resolver = FakeResolver({})
    sender = _sender(resolver=resolver, webhook_max_attempts=2)

    assert await sender.deliver("https://nowhere.test/hook", b"{}") is False
    await sender.aclose()

    assert resolver.lookups == [("nowhere.test", 443)] * 2


# --- answers, deadline, concurrency ------------------------------------------------------------------------------


async def test_delivery_retries_server_errors_until_accepted() -> None:
    receiver = Receiver(statuses=[500, 429, 200])
    sender = _sender(receiver, FakeResolver({"receiver.test": [[PUBLIC]]}))

    delivered = await sender.deliver("http://receiver.test/hook", b'{"status":"success"}')
    await sender.aclose()

    assert delivered is True
    assert [request.content for request in receiver.requests] == [b'{"status":"success"}'] * 3


async def test_delivery_gives_up_at_once_on_a_client_error() -> None:
    receiver = Receiver(statuses=[404])
    sender = _sender(receiver, FakeResolver({"receiver.test": [[PUBLIC]]}))

    delivered = await sender.deliver("http://receiver.test/hook", b"{}")
    await sender.aclose()

    assert delivered is False
    assert len(receiver.requests) == 1


@dataclass
class EndlessBody:
    """An answer body that never ends, counting how much of it was pulled."""

    chunk: bytes = b"x" * 4096
    pause: asyncio.Event | None = None  # when given, every chunk after the first waits for it (forever if unset)
    pulled: int = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self.pause is not None and self.pulled:
                await self.pause.wait()
            self.pulled += len(self.chunk)
            yield self.chunk


@pytest.mark.parametrize("status", [200, 204])
async def test_the_body_of_an_accepted_answer_is_never_read(status: int) -> None:
    body = EndlessBody()
    sender = _sender(lambda request: httpx.Response(status, content=body), FakeResolver({"r.test": [[PUBLIC]]}))

    assert await sender.deliver("http://r.test/hook", b"{}") is True
    await sender.aclose()

    assert body.pulled == 0


async def test_at_most_an_excerpt_of_an_error_answer_is_read() -> None:
    body = EndlessBody()
    sender = _sender(lambda request: httpx.Response(400, content=body), FakeResolver({"r.test": [[PUBLIC]]}))

    assert await sender.deliver("http://r.test/hook", b"{}") is False
    await sender.aclose()

    assert 0 < body.pulled <= ANSWER_EXCERPT_BYTES + len(body.chunk)


async def test_an_error_answer_that_trickles_forever_ends_at_the_deadline_with_its_status() -> None:
    bodies: list[EndlessBody] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(EndlessBody(chunk=b"x", pause=asyncio.Event()))
        return httpx.Response(503, content=bodies[-1])

    sender = _sender(answer, FakeResolver({"r.test": [[PUBLIC]]}), webhook_timeout_seconds=0.5, webhook_max_attempts=2)

    assert await sender.deliver("http://r.test/hook", b"{}") is False
    await sender.aclose()

    assert len(bodies) == 2  # the 503 counted: retried once, then given up
    assert all(body.pulled <= 1 for body in bodies)


async def test_an_attempt_that_never_answers_ends_at_the_deadline_and_is_retried() -> None:
    calls: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    sender = _sender(answer, FakeResolver({"r.test": [[PUBLIC]]}), webhook_timeout_seconds=0.2, webhook_max_attempts=2)

    assert await sender.deliver("http://r.test/hook", b"{}") is False
    await sender.aclose()

    assert calls == [PUBLIC, PUBLIC]


async def test_a_slow_resolver_counts_against_the_deadline() -> None:
    async def never(host: str, port: int) -> list[str]:
        await asyncio.Event().wait()
        return [PUBLIC]

    receiver = Receiver()
    sender = WebhookSender(
        Settings(webhook_timeout_seconds=0.2, webhook_max_attempts=1),
        transport=httpx.MockTransport(receiver),
        resolver=never,
    )

    assert await sender.deliver("http://r.test/hook", b"{}") is False
    await sender.aclose()

    assert receiver.requests == []


async def test_concurrent_attempts_are_bounded_per_process() -> None:
    in_flight = 0
    peak = 0
    calls = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak, calls
        in_flight += 1
        calls += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.Event().wait()  # held until the attempt's deadline
        finally:
            in_flight -= 1
        raise AssertionError("unreachable")

    sender = _sender(
        answer,
        FakeResolver({"r.test": [[PUBLIC]]}),
        webhook_max_concurrency=2,
        webhook_timeout_seconds=0.2,
        webhook_max_attempts=1,
    )

    results = await asyncio.gather(*(sender.deliver("http://r.test/hook", b"{}") for _ in range(5)))
    await sender.aclose()

    assert results == [False] * 5
    assert calls == 5
    assert peak == 2


# --- TLS to a pinned address (a real TLS server on loopback) -----------------------------------------------------


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (also its own trust anchor), made with the openssl command."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class TlsReceiver:
    """An HTTPS server on 127.0.0.1 that records the SNI name and the request head of every connection."""

    port: int
    server_names: list[str | None] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)


@pytest.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[tuple[TlsReceiver, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = _certificate(tmp_path, "hooks.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    holder: list[TlsReceiver] = []
    context.sni_callback = lambda sock, name, ctx: holder[0].server_names.append(name)  # type: ignore[assignment]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            holder[0].heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client gave up on the handshake
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    holder.append(TlsReceiver(port=server.sockets[0].getsockname()[1]))
    async with server:
        yield holder[0], cert


def _tls_sender(trusted: Path, *names: str) -> WebhookSender:
    client_context = ssl.create_default_context(cafile=str(trusted))
    return WebhookSender(
        Settings(webhook_block_private=False, webhook_max_attempts=1),
        transport=httpx.AsyncHTTPTransport(verify=client_context),
        resolver=FakeResolver({name: [["127.0.0.1"]] for name in names}),
    )


async def test_tls_to_the_pinned_address_names_the_host_and_verifies_its_certificate(
    tls_receiver: tuple[TlsReceiver, Path],
) -> None:
    receiver, cert = tls_receiver
    sender = _tls_sender(cert, "hooks.test")

    delivered = await sender.deliver(f"https://hooks.test:{receiver.port}/hook", b"{}")
    await sender.aclose()

    assert delivered is True
    assert receiver.server_names == ["hooks.test"]
    assert f"host: hooks.test:{receiver.port}".encode() in receiver.heads[0].lower()


async def test_tls_to_the_pinned_address_refuses_a_certificate_for_another_name(
    tls_receiver: tuple[TlsReceiver, Path],
) -> None:
    receiver, cert = tls_receiver
    sender = _tls_sender(cert, "other.test")

    delivered = await sender.deliver(f"https://other.test:{receiver.port}/hook", b"{}")
    await sender.aclose()

    assert delivered is False
    assert receiver.server_names == ["other.test"]
    assert receiver.heads == []  # the payload never left: the handshake failed first


# --- URL rules at run creation, and settings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "url", "problem"),
    [
        ({}, "ftp://example.com/x", "http(s) URL"),
        ({}, "http:///path-only", "http(s) URL"),
        ({}, "http://example.com:99999/x", "port must be between 1 and 65535"),
        ({"webhook_require_https": True}, "http://example.com/x", "https"),
        ({"webhook_allowed_hosts": ("hooks.example.com",)}, "https://evil.com/x", "not allowed"),
        ({"webhook_allowed_hosts": ("*.example.com",)}, "https://example.org/x", "not allowed"),
        ({"webhook_allowed_hosts": ("hooks.example.com",)}, "https://hooks.example.com@evil.com/x", "not allowed"),
        ({}, "https://example.com/" + "a" * 3000, "longer than"),
    ],
)
def test_webhook_urls_breaking_a_rule_are_unprocessable(settings: dict[str, object], url: str, problem: str) -> None:
    with pytest.raises(UnprocessableError, match=re.escape(problem)):
        _sender(**settings).check_url(url)


def test_webhook_urls_within_the_rules_are_accepted() -> None:
    sender = _sender(webhook_allowed_hosts=("hooks.example.com", "*.internal.example.com"), webhook_require_https=True)

    assert sender.check_url("https://hooks.example.com/a?b=c") == "https://hooks.example.com/a?b=c"
    assert sender.check_url("https://ci.internal.example.com/x")
    assert sender.check_url("https://HOOKS.example.com/x")


def test_webhook_settings_default_to_safe_and_are_read() -> None:
    defaults = Settings.from_env({})
    chosen = Settings.from_env({"WEBHOOK_BLOCK_PRIVATE": "false", "WEBHOOK_MAX_CONCURRENCY": "3"})

    assert (defaults.webhook_block_private, defaults.webhook_max_concurrency) == (True, 10)
    assert (chosen.webhook_block_private, chosen.webhook_max_concurrency) == (False, 3)


@pytest.mark.parametrize("raw", ["0", "many"])
def test_a_bad_webhook_concurrency_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_MAX_CONCURRENCY"):
        Settings.from_env({"WEBHOOK_MAX_CONCURRENCY": raw})
