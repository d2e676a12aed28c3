"""Beginning and ending signed-in sessions, and refusing a session that was ended.

The session cookie names who signed in (a lead, a resident, an organisation) and carries a
session id (SESSION_ID); pledges.signed_in_sessions keeps the ids of sessions not yet ended.
RefuseEndedSessions, inside Starlette's SessionMiddleware, empties any signed-in session
whose id is unknown or ended, so a copy of the cookie taken before signing out opens
nothing after it.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.csrf import (
    SESSION_MAX_AGE_SECONDS,
    SESSION_SECRET,
    SIGNED_IN_KEYS,
    start_signed_in_session,
)
from pledges.signed_in_sessions import begin_session, end_session, session_is_live

SESSION_ID = "sid"


async def begin_signed_in_session(request: Request) -> None:
    """At sign-in: a fresh form secret and a fresh session id (an earlier one is ended)."""
    store = request.app.state.services.store
    old = request.session.get(SESSION_ID)
    if isinstance(old, str):
        await end_session(store, old)
    start_signed_in_session(request)
    request.session[SESSION_ID] = await begin_session(
        store, timedelta(seconds=SESSION_MAX_AGE_SECONDS)
    )


async def end_signed_in_session(request: Request, *keys: str) -> None:
    """Sign `keys` out. The session's id is ended, so no copy of the cookie works; whoever
    stays signed in (a lead who was also signed in as an organisation) gets a new one."""
    for key in keys:
        request.session.pop(key, None)
    store = request.app.state.services.store
    old = request.session.pop(SESSION_ID, None)
    if isinstance(old, str):
        await end_session(store, old)
    if any(key in request.session for key in SIGNED_IN_KEYS):
        await begin_signed_in_session(request)
    else:
        request.session.pop(SESSION_SECRET, None)


class RefuseEndedSessions:
    """Empties a signed-in session whose id was ended (signed out) or never given."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = scope.get("session") if scope["type"] == "http" else None
        if session and any(key in session for key in SIGNED_IN_KEYS):
            session_id = session.get(SESSION_ID)
            store = scope["app"].state.services.store
            if not isinstance(session_id, str) or not await session_is_live(store, session_id):
                session.clear()
        await self.app(scope, receive, send)
