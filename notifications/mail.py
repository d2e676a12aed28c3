"""Mail transports: real SMTP through aiosmtplib, or the development mailbox."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Hand the message on; returns the outbox status it ends in."""


class DevMailbox:
    """No SMTP server configured: the rendered message stays in the outbox for /dev/mail."""

    async def send(self, message: EmailMessage) -> str:
        return "stored"


@dataclass(frozen=True)
class SmtpSettings:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None
    timeout: float = 30.0


def parse_smtp_url(url: str) -> SmtpSettings:
    """smtp://user:pass@host:587?starttls=true, smtps://host:465 (implicit TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:password@host:port")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    start_tls: bool | None = None  # aiosmtplib's default: upgrade when offered
    if "starttls" in query:
        start_tls = query["starttls"] in ("1", "true", "yes", "on")
    return SmtpSettings(
        hostname=parts.hostname,
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=parts.scheme == "smtps",
        start_tls=False if parts.scheme == "smtps" else start_tls,
        timeout=float(query.get("timeout", 30)),
    )


class SmtpMailer:
    def __init__(self, url: str) -> None:
        self._settings = parse_smtp_url(url)

    async def send(self, message: EmailMessage) -> str:
        s = self._settings
        await aiosmtplib.send(
            message,
            hostname=s.hostname,
            port=s.port,
            username=s.username,
            password=s.password,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=s.timeout,
        )
        return "sent"


def mailer_for(smtp_url: str | None) -> Mailer:
    return SmtpMailer(smtp_url) if smtp_url else DevMailbox()
