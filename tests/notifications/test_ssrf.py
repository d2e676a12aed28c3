"""Webhook URLs that point inside a network are refused, and a delivery connects to the
address that was vetted (with the original Host header and TLS server name)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from notifications.endpoints import Endpoint
from notifications.ssrf import UnsafeURL, vet_webhook_url
from notifications.webhooks import Deliverer, DeliveryPolicy
from pledges.store import Store, utcnow


@pytest.fixture
async def no_dns(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Any name lookup fails the test: literal addresses must need no network."""

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected DNS lookup {args}")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", refuse)
    yield


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """Host names resolve to `answers` (as a resolver under someone else's control might)."""

    async def lookup(host: str, port: int, **kwargs: Any) -> list[Any]:
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [
            (family[6 if ":" in a else 4], socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", lookup)


REFUSED_EVEN_IN_DEVELOPMENT = [
    pytest.param("https://0.0.0.0/hook", "resolves to", id="unspecified-v4"),
    pytest.param("https://[::]/hook", "resolves to", id="unspecified-v6"),
    pytest.param("https://224.0.0.1/hook", "resolves to", id="multicast-v4"),
    pytest.param("https://[ff02::1]/hook", "resolves to", id="multicast-v6"),
    pytest.param("https://[::ffff:0.0.0.0]/hook", "resolves to", id="mapped-unspecified"),
    pytest.param("https://user:pw@93.184.216.34/hook", "credentials", id="credentials"),
    pytest.param("https://hooks@93.184.216.34/hook", "credentials", id="username-only"),
    pytest.param("ftp://93.184.216.34/hook", "https", id="ftp"),
    pytest.param("file:///etc/passwd", "https", id="file"),
    pytest.param("https:///hook", "host name", id="no-host"),
    pytest.param("https://93.184.216.34:0/hook", "port", id="port-zero"),
    pytest.param("https://93.184.216.34:99999/hook", "not a valid URL", id="port-too-big"),
    pytest.param("https://93.184.216.34/" + "a" * 2000, "at most", id="too-long"),
]

REFUSED_IN_PRODUCTION = [
    *REFUSED_EVEN_IN_DEVELOPMENT,
    pytest.param("https://127.0.0.1/hook", "127.0.0.1", id="loopback"),
    pytest.param("https://127.1.2.3:8443/hook", "127.1.2.3", id="loopback-range"),
    pytest.param("https://[::1]/hook", "::1", id="loopback-v6"),
    pytest.param("https://10.0.0.5/hook", "10.0.0.5", id="private-10"),
    pytest.param("https://172.16.3.4/hook", "172.16.3.4", id="private-172"),
    pytest.param("https://192.168.1.1/hook", "192.168.1.1", id="private-192"),
    pytest.param("https://100.64.0.1/hook", "100.64.0.1", id="carrier-nat"),
    pytest.param("https://[fc00::1]/hook", "fc00::1", id="unique-local-v6"),
    pytest.param("https://169.254.10.20/hook", "169.254.10.20", id="link-local"),
    pytest.param("https://[fe80::1]/hook", "fe80::1", id="link-local-v6"),
    pytest.param(
        "https://169.254.169.254/latest/meta-data/", "169.254.169.254", id="cloud-metadata"
    ),
    pytest.param("https://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1", id="mapped-loopback"),
    pytest.param("https://[::ffff:10.0.0.1]/hook", "::ffff:10.0.0.1", id="mapped-private"),
    pytest.param(
        "https://[::ffff:169.254.169.254]/hook", "::ffff:169.254.169.254", id="mapped-metadata"
    ),
    pytest.param("https://[64:ff9b::7f00:1]/hook", "64:ff9b::7f00:1", id="nat64-loopback"),
    pytest.param("https://[2002:7f00:1::1]/hook", "2002:7f00:1::1", id="6to4-loopback"),
    pytest.param("https://[2002:a9fe:a9fe::]/hook", "2002:a9fe:a9fe::", id="6to4-metadata"),
    pytest.param("https://240.0.0.1/hook", "240.0.0.1", id="reserved"),
    pytest.param("http://93.184.216.34/hook", "https", id="plain-http"),
    pytest.param("HTTP://93.184.216.34/hook", "https", id="plain-http-upper-case"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_IN_PRODUCTION)
async def test_refused_without_private_networks(no_dns: None, url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=re.escape(reason)):
        await vet_webhook_url(url, allow_private=False)


@pytest.mark.parametrize(("url", "reason"), REFUSED_EVEN_IN_DEVELOPMENT)
async def test_refused_even_with_private_networks(no_dns: None, url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=re.escape(reason)):
        await vet_webhook_url(url, allow_private=True)


async def test_a_name_for_loopback_is_refused() -> None:
    # localhost resolves on this machine without any network.
    with pytest.raises(UnsafeURL, match="localhost resolves to"):
        await vet_webhook_url("https://localhost/hook", allow_private=False)


async def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # One public and one private answer: connecting could reach either, so neither is used.
    fake_dns(monkeypatch, {"hooks.example.org": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(UnsafeURL, match=re.escape("10.0.0.7")):
        await vet_webhook_url("https://hooks.example.org/hook", allow_private=False)


async def test_a_name_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fail)
    with pytest.raises(UnsafeURL, match="does not resolve"):
        await vet_webhook_url("https://nowhere.example/hook", allow_private=False)


async def test_a_global_literal_is_allowed_without_network(no_dns: None) -> None:
    target = await vet_webhook_url("https://93.184.216.34/hook?x=1", allow_private=False)
    assert target.url == "https://93.184.216.34/hook?x=1"
    assert target.address == "93.184.216.34"
    assert target.host_header == "93.184.216.34"


async def test_a_global_ipv6_literal_is_allowed_without_network(no_dns: None) -> None:
    target = await vet_webhook_url("https://[2606:4700:4700::1111]:8443/h", allow_private=False)
    assert target.url == "https://[2606:4700:4700::1111]:8443/h"
    assert target.address == "2606:4700:4700::1111"


async def test_private_networks_allow_http_to_loopback(no_dns: None) -> None:
    target = await vet_webhook_url("http://127.0.0.1:8123/hook", allow_private=True)
    assert target.url == "http://127.0.0.1:8123/hook"
    assert target.sni_hostname is None  # no TLS, no server name
    assert (await vet_webhook_url("https://10.0.0.5/h", allow_private=True)).url == (
        "https://10.0.0.5/h"
    )
    mapped = await vet_webhook_url("http://[::ffff:127.0.0.1]:9000/h", allow_private=True)
    assert ipaddress.ip_address(mapped.address).ipv4_mapped == ipaddress.ip_address("127.0.0.1")


async def test_the_target_pins_the_vetted_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL to connect to carries the checked IP, so a second lookup (DNS rebinding)
    cannot send the request elsewhere; Host and SNI keep the name the organisation gave."""
    fake_dns(monkeypatch, {"hooks.example.org": ["93.184.216.34"]})
    target = await vet_webhook_url("https://hooks.example.org:8443/in?k=v", allow_private=False)
    assert target.url == "https://93.184.216.34:8443/in?k=v"
    assert target.host_header == "hooks.example.org:8443"
    assert target.sni_hostname == "hooks.example.org"
    assert target.address == "93.184.216.34"


# --- a real TLS connection -----------------------------------------------------------


@dataclass
class TlsReceiver:
    """A bare HTTPS server on 127.0.0.1 that records the TLS server name and the request."""

    server_names: list[str | None] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines) if k
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((request_line, headers, body))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate for the TLS receiver")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@asynccontextmanager
async def run_tls_receiver(cert: Path, key: Path) -> AsyncIterator[TlsReceiver]:
    receiver = TlsReceiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def record_name(sslobj: Any, name: str | None, ctx: Any) -> None:
        receiver.server_names.append(name)

    context.sni_callback = record_name
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, ssl=context)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()


def an_endpoint(url: str) -> Endpoint:
    return Endpoint(
        id=1,
        public_id="ep_test",
        organisation_id=1,
        url=url,
        description="",
        event_types=(),
        filters={},
        secret="whsec_" + "QUJD" * 8,
        previous_secret=None,
        previous_secret_expires_at=None,
        status="active",
        disabled_reason=None,
        failing_since=None,
        last_success_at=None,
        created_at=utcnow(),
    )


async def test_delivery_connects_to_the_vetted_ip_with_host_and_sni(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    async with run_tls_receiver(cert, key) as receiver:
        policy = DeliveryPolicy(allow_private_networks=True, total_timeout=5)
        trusting = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=trusting, trust_env=False) as http:
            deliverer = Deliverer(cast(Store, None), policy, http)
            url = f"https://localhost:{receiver.port}/hook"
            result = await deliverer.post(
                an_endpoint(url), {"message_id": "msg_pinned", "body": '{"type":"x"}'}
            )
    assert result.status_code == 204, result.error
    # The server listens on 127.0.0.1 only; the certificate names localhost, and checked out
    # against the server name sent, which is the name in the URL, not the address dialled.
    assert receiver.server_names == ["localhost"]
    [(request_line, headers, body)] = receiver.requests
    assert request_line == "POST /hook HTTP/1.1"
    assert headers["host"] == f"localhost:{receiver.port}"
    assert headers["webhook-id"] == "msg_pinned"
    assert body == b'{"type":"x"}'


async def test_delivery_refuses_a_url_that_became_private(no_dns: None) -> None:
    policy = DeliveryPolicy(allow_private_networks=False)
    async with httpx.AsyncClient(trust_env=False) as http:
        deliverer = Deliverer(cast(Store, None), policy, http)
        result = await deliverer.post(
            an_endpoint("https://169.254.169.254/latest/meta-data/"),
            {"message_id": "msg_x", "body": "{}"},
        )
    assert result.status_code is None
    assert result.error is not None and result.error.startswith("refused:")
