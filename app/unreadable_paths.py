"""A path holding a control character (a NUL, a line break) names nothing here: it is
answered 404 before any route reads it. PostgreSQL refuses a NUL in any text parameter,
so without this each lookup of a slug, an endpoint or an offer by its path would need
its own check (and one missed answers 500)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import Problem, render_problem

NOTHING_HERE = "There is nothing at this address."


def readable(path: str) -> bool:
    return not any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in path)


class RefuseUnreadablePaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not readable(scope["path"]):
            response = await render_problem(Request(scope), Problem(404, NOTHING_HERE))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
