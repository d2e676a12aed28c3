"""Protection against cross-site form posts, without a session for people who only read.

Modern browsers say where a request comes from: `Sec-Fetch-Site`, or else `Origin`. A form
post that another site made is refused whatever it carries, before any handler runs, as
Go's net/http CrossOriginProtection does (and Rails and Django check `Origin` too). A
browser that sends neither header gets a signed form token checked instead (check_csrf,
which every form handler calls):

- a signed-in session (a lead, an administrator, an organisation, a resident in "your
  pledges") must send the token bound to that session, which only its own pages carry;
- anyone else sends the site's public token of the day, the same for every visitor, so a
  public page carries no per-visitor secret and any cache may serve it. Such a request
  carries no session, so a forged one could do no more than its sender could do alone.

Nothing here sets a cookie: the session cookie is given at sign-in and nowhere else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import Problem, render_problem

# The session cookie carries a signed-in lead's or resident's sign-in and the secret that
# binds their forms; the privacy page states this lifetime.
SESSION_MAX_AGE_SECONDS = 14 * 24 * 3600
SESSION_COOKIE = "gs_session"
# Session keys that mean someone is signed in (a lead, a resident, an organisation).
SIGNED_IN_KEYS = ("lead", "resident", "org")
SESSION_SECRET = "csrf"  # noqa: S105 (the session key's name, not a secret)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Set on a request whose browser said it came from this site: no token is needed then.
SAME_ORIGIN = "same_origin"
REFUSED = "This form has expired or came from another site. Go back, reload the page and try again."
DAY_SECONDS = 24 * 3600


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def came_from_this_site(scope: Scope, base_url: str) -> bool | None:
    """What the browser says of where a request comes from: True for this site, False for
    another, None when it says nothing (an old browser, or not a browser at all)."""
    headers = {k: v for k, v in scope["headers"] if k in (b"sec-fetch-site", b"origin", b"host")}
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None:
        # "none": the person typed or bookmarked it; "same-site" is a sibling subdomain.
        return fetch_site in (b"same-origin", b"none")
    origin = headers.get(b"origin")
    if origin is None:
        return None
    said = origin.decode("latin-1").lower()
    host = headers.get(b"host", b"").decode("latin-1").lower()
    own = {_origin(base_url), f"{scope.get('scheme', 'http')}://{host}"}
    return said in own


class CrossOriginProtection:
    """Refuses a form post (any unsafe method outside /api/, whose callers use keys, not
    cookies) that a browser says another site made."""

    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        self.base_url = base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in UNSAFE_METHODS
            and not scope["path"].startswith("/api/")
        ):
            verdict = came_from_this_site(scope, self.base_url)
            if verdict is False:
                response = await render_problem(Request(scope), Problem(403, REFUSED))
                await response(scope, receive, send)
                return
            if verdict:
                scope.setdefault("state", {})[SAME_ORIGIN] = True
        await self.app(scope, receive, send)


def _mac(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def public_token(key: str, day: int) -> str:
    """The form token everyone who is not signed in gets on `day` (days since the epoch)."""
    return f"{day}.{_mac(key, f'public-form:{day}')}"


def _today() -> int:
    return int(time.time() // DAY_SECONDS)


def signed_in(request: Request) -> bool:
    return any(key in request.session for key in SIGNED_IN_KEYS)


def start_signed_in_session(request: Request) -> None:
    """At sign-in: a fresh secret for the session's forms (a page read before signing in,
    or another session's, does not carry it)."""
    request.session[SESSION_SECRET] = secrets.token_urlsafe(32)


def _secret_key(request: Request) -> str:
    return str(request.app.state.services.settings.secret_key)


def csrf_token(request: Request) -> str:
    """The token a page's forms carry: bound to the session if someone is signed in, else
    the public token of the day."""
    key = _secret_key(request)
    if signed_in(request):
        secret = request.session.get(SESSION_SECRET)
        if not secret:  # a session from before sign-in set it
            start_signed_in_session(request)
            secret = request.session[SESSION_SECRET]
        return "s." + _mac(key, f"session-form:{secret}")
    return public_token(key, _today())


def _token_is_good(request: Request, submitted: str, before_sign_in: bool) -> bool:
    key = _secret_key(request)
    if signed_in(request) and not (before_sign_in and not submitted.startswith("s.")):
        secret = request.session.get(SESSION_SECRET)
        expected = "s." + _mac(key, f"session-form:{secret}") if secret else ""
        return bool(expected) and hmac.compare_digest(submitted.encode(), expected.encode())
    day_text, _, _ = submitted.partition(".")
    if not day_text.isdigit():
        return False
    day = int(day_text)
    # Today's or yesterday's (a page read just before midnight), or tomorrow's (a clock
    # ahead in another process): a form stays good for at least a day.
    if abs(day - _today()) > 1:
        return False
    return hmac.compare_digest(submitted.encode(), public_token(key, day).encode())


def check_csrf(request: Request, submitted: object, *, before_sign_in: bool = False) -> None:
    """Every form handler calls this: a post the browser said came from this site passes;
    otherwise the form's token must be good (see the module's docstring). The sign-in
    forms (`before_sign_in`) were read before their session began, and take the public
    token of the day even from someone signed in (a second click on "Show my pledges"
    then hears that its link is used, not that its form expired)."""
    if request.scope.get("state", {}).get(SAME_ORIGIN):
        return
    if not (
        isinstance(submitted, str)
        and submitted
        and _token_is_good(request, submitted, before_sign_in)
    ):
        raise Problem(403, REFUSED)
