"""Refuse webhook URLs that point inside a network: checked at registration and at
every delivery, and the delivery connects to the address that was vetted (no DNS
rebinding between the check and the connection)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from pledges.text import text_fault

MAX_URL_LENGTH = 2000


class UnsafeURL(Exception):
    """The URL may not be used for webhooks; the message says why."""


@dataclass(frozen=True)
class VettedTarget:
    url: str  # the URL with the vetted IP address in place of the host name
    host_header: str
    sni_hostname: str | None
    address: str


def _address_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool
) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4-mapped (::ffff:a.b.c.d) and 6to4 (2002:AABB:CCDD::) carry an IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            address = embedded
    if address.is_unspecified:
        return False
    if allow_private and (address.is_loopback or address.is_private):
        return True  # ::1 counts as "reserved" in Python, so this check comes first
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return False
    return allow_private or address.is_global


async def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass  # a host name, not an address
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: not a name IDNA can encode
        raise UnsafeURL(f"The host name {host} does not resolve.") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeURL(f"The host name {host} does not resolve.")
    return addresses


def parse_webhook_url(url: str, allow_private: bool) -> SplitResult:
    """Check the URL's form: https (http only where private networks are allowed)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"The URL must be at most {MAX_URL_LENGTH} characters.")
    if text_fault(url, one_line=True) or any(c.isspace() for c in url):
        raise UnsafeURL("The URL must not contain spaces, line breaks or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("This is not a valid URL.") from exc
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeURL("Webhook URLs must use https.")
    if not parts.hostname:
        raise UnsafeURL("The URL needs a host name.")
    if parts.username or parts.password:
        raise UnsafeURL("Put credentials in the signature check, not in the URL.")
    if port == 0:
        raise UnsafeURL("The URL's port is not valid.")
    return parts


async def vet_webhook_url(url: str, allow_private: bool) -> VettedTarget:
    """Resolve the host and refuse non-global addresses; returns where to connect."""
    parts = parse_webhook_url(url, allow_private)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _resolve(host, port)
    for address in addresses:
        if not _address_allowed(address, allow_private):
            raise UnsafeURL(
                "Webhook URLs must resolve to public internet addresses; "
                f"{host} resolves to {address}."
            )
    chosen = addresses[0]
    netloc_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    vetted_url = parts._replace(netloc=netloc).geturl()
    return VettedTarget(
        url=vetted_url,
        host_header=parts.netloc,
        sni_hostname=host if parts.scheme == "https" else None,
        address=str(chosen),
    )
