"""Security headers on every response: a Content-Security-Policy that allows only the
site's own resources, no sniffing, a strict referrer, no powerful browser features, HTTPS
only once the site is served over it, no framing unless a response (the embeddable widget)
sets its own policy, and nothing kept by any cache unless a response says otherwise (public
reads do: app/http_cache.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Stylesheets change with a release; StaticFiles answers their conditional requests.
STATIC_FILES = "public, max-age=3600"
# Two years, as hstspreload.org asks; subdomains are the operator's to decide, so not included.
HSTS = "max-age=63072000"
# Groundswell's pages use none of these; a page injected into cannot ask for them either.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "interest-cohort",
    )
)
STRIPE_CHECKOUT = "https://checkout.stripe.com"


def checkout_origin(stripe_api_base: str) -> str:
    """Where Stripe Checkout pages are served: Stripe's own checkout host, or, for a stand-in
    (the demo's and the tests'), the stand-in's own address."""
    parts = urlsplit(stripe_api_base)
    if parts.hostname in ("api.stripe.com", None):
        return STRIPE_CHECKOUT
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(
    *, form_targets: tuple[str, ...] = (), inline_styles: bool = False
) -> str:
    """The site's own resources only: no inline script or style, no plugins, no <base>
    rewriting, no framing, and forms that post to the site (and, where money pledges are on,
    the redirect they end in at Stripe Checkout; browsers check a form's redirects too).
    `inline_styles` is for development's mailbox, which shows emails as mail clients do."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self' 'unsafe-inline'" if inline_styles else "'self'",
        "img-src": "'self' data:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": " ".join(("'self'", *form_targets)),
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class SecurityHeadersMiddleware:
    def __init__(
        self, app: ASGIApp, *, https: bool = False, form_targets: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.csp = content_security_policy(form_targets=form_targets)
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                csp = headers.setdefault("Content-Security-Policy", self.csp)
                headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
                if self.https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                cache_control = headers.setdefault(
                    "Cache-Control",
                    STATIC_FILES if scope["path"].startswith("/static/") else "no-store",
                )
                if "set-cookie" in headers and "public" in cache_control:
                    # A response that sets a cookie is one person's: never a shared cache's.
                    headers["Cache-Control"] = "private, no-cache"
                if "vary" in headers:
                    # The session middleware adds `Cookie` again when a read looked at it.
                    names = [n.strip() for n in ",".join(headers.getlist("vary")).split(",")]
                    del headers["vary"]
                    headers["Vary"] = ", ".join(dict.fromkeys(n for n in names if n))
                if "frame-ancestors 'none'" in csp:
                    # For browsers that predate frame-ancestors.
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)
