"""Security headers on every response: no sniffing, a strict referrer, no framing unless a
response (the embeddable widget) sets its own frame-ancestors policy, and nothing kept by
any cache unless a response says otherwise (public reads do: app/http_cache.py)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_FRAMING_CSP = "frame-ancestors 'none'"
# Stylesheets change with a release; StaticFiles answers their conditional requests.
STATIC_FILES = "public, max-age=3600"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
                csp = headers.setdefault("Content-Security-Policy", NO_FRAMING_CSP)
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
