"""CSRF protection for HTML forms: a per-session token, checked on every form POST."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

from app.errors import Problem

# The session cookie carries the CSRF token (and an organisation's sign-in); the privacy
# page states this lifetime.
SESSION_MAX_AGE_SECONDS = 14 * 24 * 3600


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, submitted: object) -> None:
    expected = request.session.get("csrf")
    if not (
        isinstance(submitted, str)
        and expected
        and hmac.compare_digest(submitted.encode(), str(expected).encode())
    ):
        raise Problem(
            403,
            "This form has expired or came from another site. Go back, reload the page "
            "and try again.",
        )
