"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USERNAME = "groundswell-mailer"
# Characters that must be percent-encoded in a URL, so both forms can be looked for.
SMTP_PASSWORD = "s3cret/Pa55:w@rd"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    """The aiosmtpd handler: parses and keeps each accepted message."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._raw: list[bytes] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
            self._raw.append(raw)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USERNAME.encode()
            and auth_data.password == SMTP_PASSWORD.encode()
        )
        if ok:
            with self._lock:
                self.logins.append(SMTP_USERNAME)
        # handled=False: aiosmtpd answers 235 or 535 itself.
        return AuthResult(success=ok, handled=False)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def raw_messages(self) -> list[bytes]:
        """As they came over the wire, for what a parser would not show (encoded-words)."""
        with self._lock:
            return list(self._raw)


class SmtpServer:
    """An SMTP server on a port of its own that can be stopped and started again."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.collector = Collector()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def url_with_credentials(self) -> str:
        user, password = quote(SMTP_USERNAME, safe=""), quote(SMTP_PASSWORD, safe="")
        return f"smtp://{user}:{password}@{self.host}:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.collector.messages

    @property
    def raw_messages(self) -> list[bytes]:
        return self.collector.raw_messages

    def start(self) -> None:
        self._controller = Controller(
            self.collector,
            hostname=self.host,
            port=self.port,
            authenticator=self.collector.authenticate,
            auth_require_tls=False,  # 127.0.0.1 only; production mail servers offer STARTTLS
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stopped_smtp_server() -> Iterator[SmtpServer]:
    """A server whose port is reserved for it but nothing answers until `start()`."""
    server = SmtpServer()
    yield server
    server.stop()
