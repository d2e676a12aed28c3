"""Sign-in links' email addresses do not outlive the retention job."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import sqlalchemy as sa

from notifications.mail import DevMailbox
from notifications.messages import MessageRenderer
from notifications.worker import Worker
from pledges.magic_links import issue_link
from pledges.signed_in_sessions import begin_session, session_is_live
from pledges.store import Store, utcnow
from pledges.tables import magic_links, signed_in_sessions
from pledges.tokens import Signer


def renderer() -> MessageRenderer:
    return MessageRenderer(Signer("retention-test-secret"), "http://testserver", "gs@example.org")


async def link_emails(store: Store) -> list[str]:
    rows = await store.database.fetch_all(
        sa.select(magic_links.c.email).order_by(magic_links.c.email)
    )
    return [r["email"] for r in rows]


async def test_the_retention_job_deletes_sign_in_links_a_day_old(store: Store) -> None:
    signer = Signer("retention-test-secret")
    async with store.write() as db:
        for email in ("old@example.org", "yesterday@example.org", "new@example.org"):
            assert await issue_link(store, db, signer, "resident", email)
    await store.database.execute(
        sa.update(magic_links)
        .where(magic_links.c.email == "old@example.org")
        .values(created_at=utcnow() - timedelta(days=30), used_at=utcnow() - timedelta(days=30))
    )
    await store.database.execute(
        sa.update(magic_links)
        .where(magic_links.c.email == "yesterday@example.org")
        .values(created_at=utcnow() - timedelta(hours=25))
    )
    worker = Worker(store, DevMailbox(), renderer(), pledge_retention_days=180)
    await worker.anonymise_if_due()
    # A link lives an hour at most and the limits on asking look back an hour: a day's
    # links are kept, older ones (used or not) go with their addresses.
    assert await link_emails(store) == ["new@example.org"]


async def test_the_retention_job_deletes_expired_sessions(store: Store) -> None:
    live = await begin_session(store, timedelta(days=14))
    ended = await begin_session(store, timedelta(days=14))
    await store.database.execute(
        sa.update(signed_in_sessions)
        .where(signed_in_sessions.c.id_hash == hashlib.sha256(ended.encode()).hexdigest())
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    assert not await session_is_live(store, ended)
    worker = Worker(store, DevMailbox(), renderer(), pledge_retention_days=180)
    await worker.anonymise_if_due()
    count = await store.database.fetch_val(
        sa.select(sa.func.count()).select_from(signed_in_sessions)
    )
    assert count == 1
    assert await session_is_live(store, live)
