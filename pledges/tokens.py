"""Signed, expiring tokens with one namespace per purpose (confirm, withdraw, ...)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from pledges.errors import InvalidToken

DAY = 24 * 3600

# How long each kind of link stays valid, in seconds.
MAX_AGE = {
    "pledge-confirm": 7 * DAY,
    "pledge-withdraw": 180 * DAY,
    "unsubscribe": 365 * DAY,
    "lead-sign-in": 15 * 60,
    "resident-sign-in": 60 * 60,
    # Money pledges: go (back) to Checkout to save a card; pay after a failed charge
    # (7 days to pay, and a day's grace for the last reminder's link).
    "pledge-card": 7 * DAY,
    "pledge-pay": 8 * DAY,
    # The offers email's link to choose, and later to say the chosen service arrived.
    "offer-choice": 365 * DAY,
}


class Signer:
    def __init__(self, secret_key: str) -> None:
        self._secret_key = secret_key

    def _serializer(self, namespace: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret_key, salt=f"groundswell.{namespace}")

    def digest(self, value: str, namespace: str) -> str:
        """A keyed hash of `value` (HMAC-SHA256, hex), for what is stored to be compared
        later but must not be searchable in a copy of the database alone."""
        key = f"groundswell.{namespace}:{self._secret_key}".encode()
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    def sign(self, value: Any, namespace: str) -> str:
        return self._serializer(namespace).dumps(value)

    def unsign(self, token: str, namespace: str, max_age: int | None = None) -> Any:
        age = MAX_AGE[namespace] if max_age is None else max_age
        try:
            return self._serializer(namespace).loads(token, max_age=age)
        except SignatureExpired as exc:
            raise InvalidToken("This link has expired.") from exc
        except BadSignature as exc:
            raise InvalidToken("This link is not valid.") from exc
