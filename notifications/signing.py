"""Standard Webhooks signing with the standardwebhooks library."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_header(
    signing_secrets: list[str], message_id: str, timestamp: datetime, body: str
) -> str:
    """One `v1,<sig>` per secret, space-separated: both keys sign during a rotation."""
    return " ".join(Webhook(s).sign(message_id, timestamp, body) for s in signing_secrets)


def webhook_headers(
    signing_secrets: list[str], message_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(signing_secrets, message_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "Groundswell-Webhooks/1",
    }
