"""Signed-in sessions kept on the server, so that signing out ends them.

The session cookie is signed but carries everything itself; a copy taken before signing out
would keep working until it expired. Each sign-in therefore gets a random session id, kept
in the cookie, whose sha256 is stored here; every signed-in request checks the row is still
there, and signing out deletes it. The rows name nobody; past their expiry the retention
job deletes them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from pledges.store import Store, utcnow
from pledges.tables import signed_in_sessions


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def begin_session(store: Store, lifetime: timedelta) -> str:
    """A new session's id (for the cookie); only its hash is stored."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    async with store.write() as db:
        await db.execute(
            sa.insert(signed_in_sessions).values(
                id_hash=_hash(session_id), created_at=now, expires_at=now + lifetime
            )
        )
    return session_id


async def end_session(store: Store, session_id: str) -> None:
    """Sign-out: the session id stops working at once, wherever a copy of it is."""
    async with store.write() as db:
        await db.execute(
            sa.delete(signed_in_sessions).where(signed_in_sessions.c.id_hash == _hash(session_id))
        )


async def session_is_live(store: Store, session_id: str) -> bool:
    found = await store.database.fetch_val(
        sa.select(signed_in_sessions.c.expires_at).where(
            signed_in_sessions.c.id_hash == _hash(session_id),
            signed_in_sessions.c.expires_at > utcnow(),
        )
    )
    return found is not None


async def forget_expired_sessions(store: Store, now: datetime | None = None) -> int:
    """Delete the rows of sessions past their expiry; returns how many."""
    now = now or utcnow()
    old = sa.select(signed_in_sessions.c.id_hash).where(signed_in_sessions.c.expires_at < now)
    if await store.database.fetch_val(old.limit(1)) is None:
        return 0  # the common case: no write transaction
    async with store.write() as db:
        deleted = await db.fetch_all(
            sa.delete(signed_in_sessions)
            .where(signed_in_sessions.c.expires_at < now)
            .returning(signed_in_sessions.c.id_hash)
        )
    return len(deleted)
