"""Anonymising pledgers' personal data a set time after their campaign closes.

The issue asks for it (default 6 months, PLEDGE_RETENTION_DAYS), as UK Parliament
e-petitions does. A campaign closes at its closed_at when it expired or was cancelled, and
at its deadline when it tipped (a tipped campaign stays open to pledges until then).

Anonymising keeps each pledge's status, district and times, so every count and report stays
as it was: it is not a withdrawal. Name, email and IP go, the postcode shrinks to its
district, and the choices to show a name or share contact details are cleared, as are the
private answers given with a choice between providers' offers (the offer chosen stays, one
of the round's results). The copies of emails sent to those pledgers lose their address,
subject and text. Sign-in links (and the address each was sent to) are deleted a day after
they were made, and the records of signed-in sessions once they expire. The work runs in
batches, each its own transaction, so the worker never holds the write lock for long.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pledges.anonymity import ScrubMail, blank_pledges, forget_households
from pledges.signed_in_sessions import forget_expired_sessions
from pledges.store import Store, utcnow
from pledges.tables import campaigns, letter_attempts, magic_links, pledges

BATCH_SIZE = 500
# The codes entered from letters name the address they were entered for; the limits on
# guessing look back a day, so two days' records are all that is kept.
LETTER_ATTEMPTS_KEPT = timedelta(days=2)
# A sign-in link works for an hour at most and the limits on asking look back an hour.
SIGN_IN_LINKS_KEPT = timedelta(days=1)


def closed_before(cutoff: datetime) -> Any:
    """Campaigns that closed before `cutoff`."""
    return sa.or_(
        sa.and_(campaigns.c.status.in_(("expired", "cancelled")), campaigns.c.closed_at < cutoff),
        sa.and_(campaigns.c.status == "tipped", campaigns.c.deadline < cutoff),
    )


async def anonymise_closed_campaigns(
    store: Store,
    retention_days: int,
    now: datetime | None = None,
    *,
    scrub_mail: ScrubMail,
    limit: int | None = None,
) -> int:
    """Anonymise the pledges of campaigns closed more than `retention_days` ago, not done
    before; returns how many. `scrub_mail` scrubs their copies in the email outbox in the
    same transaction (notifications.outbox.scrub_pledge_mail). With `limit`, stops after
    about that many (the worker spreads a large backlog over several passes)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    due = (
        sa.select(pledges.c.id)
        .where(
            pledges.c.anonymised_at.is_(None),
            pledges.c.campaign_id.in_(sa.select(campaigns.c.id).where(closed_before(cutoff))),
        )
        .order_by(pledges.c.id)
    )
    if await store.database.fetch_val(due.limit(1)) is None:
        return 0  # the common case: no write transaction, no lock
    done = 0
    while limit is None or done < limit:
        size = BATCH_SIZE if limit is None else min(BATCH_SIZE, limit - done)
        query = due.limit(size)
        if not store.is_sqlite:
            query = query.with_for_update()  # in id order, as bulk invalidation locks
        async with store.write() as db:
            ids = [r["id"] for r in await db.fetch_all(query)]
            if not ids:
                break
            changed = await blank_pledges(db, ids, "anonymised", now)
            await forget_households(db, ids, "anonymised")
            await scrub_mail(db, ids, "anonymised")
        done += len(changed)
    return done


async def forget_letter_attempts(store: Store, now: datetime | None = None) -> int:
    """Delete the records of letter codes entered more than LETTER_ATTEMPTS_KEPT ago."""
    cutoff = (now or utcnow()) - LETTER_ATTEMPTS_KEPT
    old = sa.select(letter_attempts.c.id).where(letter_attempts.c.created_at < cutoff).limit(1)
    if await store.database.fetch_val(old) is None:
        return 0  # the common case: no write transaction
    async with store.write() as db:
        deleted = await db.fetch_all(
            sa.delete(letter_attempts)
            .where(letter_attempts.c.created_at < cutoff)
            .returning(letter_attempts.c.id)
        )
    return len(deleted)


async def forget_sign_in_links(store: Store, now: datetime | None = None) -> int:
    """Delete sign-in links (used or not) made more than SIGN_IN_LINKS_KEPT ago, and with
    them the address each was sent to."""
    cutoff = (now or utcnow()) - SIGN_IN_LINKS_KEPT
    old = sa.select(magic_links.c.nonce_hash).where(magic_links.c.created_at < cutoff).limit(1)
    if await store.database.fetch_val(old) is None:
        return 0
    async with store.write() as db:
        deleted = await db.fetch_all(
            sa.delete(magic_links)
            .where(magic_links.c.created_at < cutoff)
            .returning(magic_links.c.nonce_hash)
        )
    return len(deleted)


async def forget_sign_in_records(store: Store, now: datetime | None = None) -> int:
    """The retention job's share for signing in: old links and expired sessions."""
    return await forget_sign_in_links(store, now) + await forget_expired_sessions(store, now)
