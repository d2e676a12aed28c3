"""From the journal to the email outbox, and from the outbox to the mail server.

Dispatch turns each undispatched event into outbox rows (unique per purpose and
recipient, so a message is queued once however often dispatch runs), and into notes on the
lead's "to tell by hand" list for pledges without email (notifications/hand_notes.py), and
marks the event dispatched in the same transaction. Sending claims due rows under a lease
(Store.claim); a worker that dies mid-send leaves the lease to run out and another sends
the message.

The outbox's table is owned here, so the kinds of message are named here, and so is the
scrubbing of a pledger's mail when their pledge is erased or anonymised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

import sqlalchemy as sa
from databases import Database

from notifications.audience import broadcast_audience
from notifications.hand_notes import note_for_pledge, note_pledges
from notifications.mail import Mailer
from notifications.messages import MessageRenderer, Rendered
from notifications.tables import emails
from pledges.choices import choosers_of_offer
from pledges.delivery import milestone_for_event, waiting_pledges
from pledges.identity import address_domains, canonical_email
from pledges.journal import Event, event_from_row
from pledges.store import Store, mark_journal_written, utcnow
from pledges.tables import campaigns, choice_rounds, events, leads, pledges

log = logging.getLogger("groundswell.mail")

# Retry after a failed send (seconds); then the message is marked failed.
EMAIL_RETRY_SCHEDULE = (30, 120, 600, 1800, 7200, 21600)
LEASE = timedelta(seconds=120)
# Campaign news goes to confirmed pledgers who have not unsubscribed (the choice round's
# messages to some more: notifications.audience).
BROADCAST_KINDS = {
    "campaign.tipped": "tipped",
    "campaign.expired": "expired",
    "campaign.cancelled": "cancelled",
    # The lead's update; the email is rendered from the update the event names.
    "campaign.update_posted": "update",
    # A provider's or council's response; rendered from the response the event names.
    "campaign.responded": "response",
    # The choice round: every offer side by side with a link to choose, to every confirmed
    # pledger (unsubscribed too, see notifications.audience); then what residents chose.
    "campaign.choice_opened": "offers",
    "campaign.choice_closed": "choice_result",
}
# A resident's own money: sent to that pledge, one message per event, even to those who
# unsubscribed from campaign news (never to an erased pledge).
PAYMENT_EMAILS = {
    "payment.action_required": "pay",
    "payment.reminder": "pay_reminder",
    "payment.failed": "payment_failed",
    "payment.succeeded": "paid",
    "payment.refunded": "refunded",
}
# About the provider residents chose: sent to those of its choosers still waiting for the
# service (pledges.delivery.waiting_pledges), one message per event and pledge. Like the
# payment emails, it goes to those who unsubscribed from campaign news too: it is about a
# service they chose for their home after the campaign, not the campaign's news.
WAITING_EMAILS = {"delivery.milestone_missed": "delivery_missed"}
# An offer withdrawn while the round is open: to the pledgers whose home chose it, so they
# can choose again before the close (unsubscribed too: it is about their own choice).
CHOOSER_EMAILS = {"offer.withdrawn": "offer_withdrawn"}
# Asking to pay, and saying we stopped asking: not to a pledge withdrawn or struck out.
COUNTED_ONLY = {"pay", "pay_reminder", "payment_failed"}
# To a campaign's lead, about the administrators' review of it (pledges.review).
LEAD_REVIEW_EMAILS = {
    "campaign.approved": "campaign_approved",
    "campaign.rejected": "campaign_rejected",
}
LEAD_REVIEW_KINDS = frozenset(LEAD_REVIEW_EMAILS.values())
# A sign-in link, by whom it is for: a campaign's lead, or a resident's "my pledges".
SIGN_IN_KINDS = {"lead": "sign_in_lead", "resident": "sign_in_resident"}
# What a message to an anonymised pledge keeps as its address.
ANONYMISED_ADDRESS = "anonymised@invalid"


async def _queue_for_pledge(
    store: Store,
    db: Database,
    kind: str,
    key: str,
    event: Event,
    pledge_id: int,
    *,
    counted_only: bool = False,
) -> None:
    query = sa.select(pledges.c.email, pledges.c.campaign_id).where(
        pledges.c.id == pledge_id, pledges.c.anonymised_at.is_(None)
    )
    if counted_only:
        query = query.where(pledges.c.status == "confirmed")
    row = await db.fetch_one(query)
    if row is None:  # gone, or erased / anonymised (or withdrawn) before this was dispatched
        return
    if row["email"] is None:  # recorded by the lead without email: their list instead
        await note_for_pledge(store, db, kind, key, event, pledge_id)
        return
    now = utcnow()
    await db.execute(
        store.insert_or_ignore(emails).values(
            dedupe_key=key,
            kind=kind,
            pledge_id=pledge_id,
            campaign_id=row["campaign_id"],
            event_id=event.id,
            to_address=row["email"],
            status="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


async def _queue_waiting(store: Store, db: Database, kind: str, event: Event) -> None:
    """The residents whose home chose the provider an event is about and who have not said
    its service reached them: an email each, or a note on their lead's list."""
    milestone = await milestone_for_event(db, event.payload)
    if milestone is None or event.campaign_id is None:
        return
    await _queue_to(
        store, db, kind, event, waiting_pledges(event.campaign_id, milestone.organisation_id)
    )


async def _queue_choosers(store: Store, db: Database, kind: str, event: Event) -> None:
    """The residents whose home chose the offer an event is about, while the round is open."""
    offer = event.payload.get("offer")
    if event.campaign_id is None or not isinstance(offer, dict) or "id" not in offer:
        return
    await _queue_to(store, db, kind, event, choosers_of_offer(event.campaign_id, offer["id"]))


async def _queue_to(
    store: Store, db: Database, kind: str, event: Event, waiting: sa.Select[Any]
) -> None:
    """One message per event to each of the pledges `waiting` selects: an email to those
    with an address, a note on their lead's list for those without."""
    ids = waiting.where(pledges.c.email.is_not(None)).subquery()
    now = utcnow()
    recipients = sa.select(
        sa.literal(kind).label("kind"),
        (sa.literal(f"{kind}:{event.id}:") + sa.cast(pledges.c.id, sa.String)).label("dedupe_key"),
        pledges.c.id,
        pledges.c.campaign_id,
        sa.literal(event.id).label("event_id"),
        pledges.c.email,
        sa.literal("queued").label("status"),
        sa.literal(0).label("attempts"),
        sa.literal(now, type_=emails.c.next_attempt_at.type).label("next_attempt_at"),
        sa.literal(now, type_=emails.c.created_at.type).label("created_at"),
    ).where(pledges.c.id.in_(sa.select(ids.c.id)))
    columns = [
        "kind",
        "dedupe_key",
        "pledge_id",
        "campaign_id",
        "event_id",
        "to_address",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    await db.execute(store.insert_or_ignore(emails).from_select(columns, recipients))
    await note_pledges(store, db, kind, event, waiting)


async def _offers_to_latecomer(store: Store, db: Database, event: Event) -> None:
    """A pledge confirmed while its campaign's choice round is open gets the offers email
    too (or a note on its lead's list), so joining late still gives a say: the same
    message and key as the round's broadcast, so it is never sent twice."""
    opened_id = await db.fetch_val(
        sa.select(events.c.id)
        .select_from(
            choice_rounds.join(events, events.c.campaign_id == choice_rounds.c.campaign_id)
        )
        .where(
            choice_rounds.c.campaign_id == event.campaign_id,
            choice_rounds.c.closed_at.is_(None),
            events.c.type == "campaign.choice_opened",
        )
        .limit(1)
    )
    if opened_id is None:
        return
    opened = event_from_row(await db.fetch_one(sa.select(events).where(events.c.id == opened_id)))
    pledge_id = int(event.payload["pledge_id"])
    kind = BROADCAST_KINDS["campaign.choice_opened"]
    await _queue_for_pledge(
        store, db, kind, f"{kind}:{opened.id}:{pledge_id}", opened, pledge_id, counted_only=True
    )


async def _queue_for_lead(store: Store, db: Database, kind: str, event: Event) -> None:
    """One message to the lead of the campaign an event is about, rendered when sent."""
    if event.campaign_id is None:
        return
    address = await db.fetch_val(
        sa.select(leads.c.email)
        .select_from(campaigns.join(leads, leads.c.id == campaigns.c.lead_id))
        .where(campaigns.c.id == event.campaign_id)
    )
    if not address:
        return
    now = utcnow()
    await db.execute(
        store.insert_or_ignore(emails).values(
            dedupe_key=f"{kind}:{event.id}",
            kind=kind,
            campaign_id=event.campaign_id,
            event_id=event.id,
            to_address=address,
            status="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


async def queue_prepared(
    store: Store, db: Database, kind: str, dedupe_key: str, to_address: str, rendered: Rendered
) -> None:
    """Queue a message written whole now (a sign-in link, a note to an organisation's
    members), in `db`'s transaction; the commit wakes the worker's email loop."""
    now = utcnow()
    await db.execute(
        store.insert_or_ignore(emails).values(
            dedupe_key=dedupe_key[:120],
            kind=kind,
            to_address=to_address,
            status="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
        )
    )
    mark_journal_written()  # not a journal event, but the same wake-up after commit


async def queue_emails_for(store: Store, db: Database, event: Event) -> None:
    if event.type == "pledge.created":
        pledge_id = int(event.payload["pledge_id"])
        await _queue_for_pledge(store, db, "confirm", f"confirm:{event.id}", event, pledge_id)
    elif event.type == "pledge.repeated":
        # At most one "already pledged" email a day, whatever someone submits.
        pledge_id = int(event.payload["pledge_id"])
        key = f"repeated:{pledge_id}:{utcnow().date().isoformat()}"
        await _queue_for_pledge(store, db, "repeated", key, event, pledge_id)
    elif event.type == "pledge.confirmed" and event.campaign_id is not None:
        await _offers_to_latecomer(store, db, event)
    elif event.type in BROADCAST_KINDS:
        if event.campaign_id is not None:
            kind = BROADCAST_KINDS[event.type]
            await _queue_to(store, db, kind, event, broadcast_audience(kind, event.campaign_id))
    elif event.type in WAITING_EMAILS:
        await _queue_waiting(store, db, WAITING_EMAILS[event.type], event)
    elif event.type in CHOOSER_EMAILS:
        await _queue_choosers(store, db, CHOOSER_EMAILS[event.type], event)
    elif event.type in LEAD_REVIEW_EMAILS:
        await _queue_for_lead(store, db, LEAD_REVIEW_EMAILS[event.type], event)
    elif event.type in PAYMENT_EMAILS:
        if event.payload.get("refund_due"):
            return  # paid after withdrawing: no receipt, the refund's email tells them
        kind = PAYMENT_EMAILS[event.type]
        pledge_id = int(event.payload["pledge_id"])
        await _queue_for_pledge(
            store,
            db,
            kind,
            f"{kind}:{event.id}",
            event,
            pledge_id,
            counted_only=kind in COUNTED_ONLY,
        )


EventHandler = Callable[[Store, Database, Event], Awaitable[Any]]


async def dispatch_events(store: Store, limit: int = 200, also: Sequence[EventHandler] = ()) -> int:
    """Fan undispatched journal events out to the outbox, and to each handler in `also`
    (webhook fan-out), in one transaction; returns how many events."""
    query = (
        sa.select(events).where(events.c.dispatched_at.is_(None)).order_by(events.c.id).limit(limit)
    )
    locked = await store.claimable(query)
    if locked is None:
        return 0
    async with store.write() as db:
        rows = await db.fetch_all(locked)
        for row in rows:
            event = event_from_row(row)
            await queue_emails_for(store, db, event)
            for handler in also:
                await handler(store, db, event)
        if rows:
            await db.execute(
                sa.update(events)
                .where(events.c.id.in_([r["id"] for r in rows]))
                .values(dispatched_at=utcnow())
            )
    return len(rows)


async def _claim_due_emails(store: Store, limit: int) -> list[Any]:
    now = utcnow()
    due = (
        sa.select(emails.c.id)
        .where(
            sa.or_(
                sa.and_(emails.c.status == "queued", emails.c.next_attempt_at <= now),
                sa.and_(emails.c.status == "sending", emails.c.lease_until <= now),
            )
        )
        .order_by(emails.c.next_attempt_at)
        .limit(limit)
    )
    return await store.claim(
        emails,
        due,
        {"status": "sending", "lease_until": now + LEASE, "attempts": emails.c.attempts + 1},
    )


async def _render(store: Store, renderer: MessageRenderer, row: Any) -> Rendered:
    if row["pledge_id"] is None and row["subject"] and row["text_body"]:
        # Written whole when queued (to an organisation's members): nothing to render.
        return Rendered(row["subject"], row["text_body"], row["html_body"] or "", {})
    async with store.read() as db:
        if row["kind"] in LEAD_REVIEW_KINDS:
            return await renderer.render_for_lead(
                db, row["kind"], row["campaign_id"], event_id=row["event_id"]
            )
        return await renderer.render(db, row["kind"], row["pledge_id"], event_id=row["event_id"])


async def _send_one(store: Store, mailer: Mailer, renderer: MessageRenderer, row: Any) -> None:
    try:
        rendered = await _render(store, renderer, row)
        message = renderer.build(row["to_address"], rendered, row["dedupe_key"])
        status = await mailer.send(message)
    except Exception as exc:
        attempts = row["attempts"]
        failed = attempts > len(EMAIL_RETRY_SCHEDULE)
        delay = EMAIL_RETRY_SCHEDULE[min(attempts, len(EMAIL_RETRY_SCHEDULE)) - 1]
        # The error's class and text, never the SMTP URL (it may hold a password).
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("email %s attempt %s failed: %s", row["id"], attempts, type(exc).__name__)
        async with store.write() as db:
            await db.execute(
                sa.update(emails)
                .where(emails.c.id == row["id"])
                .values(
                    status="failed" if failed else "queued",
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                    lease_until=None,
                    last_error=error,
                )
            )
        return
    async with store.write() as db:
        await db.execute(
            sa.update(emails)
            .where(emails.c.id == row["id"])
            .values(
                status=status,
                sent_at=utcnow(),
                lease_until=None,
                last_error=None,
                subject=rendered.subject,
                text_body=rendered.text,
                html_body=rendered.html,
            )
        )


async def send_due_emails(
    store: Store, mailer: Mailer, renderer: MessageRenderer, limit: int = 50, concurrency: int = 8
) -> int:
    rows = await _claim_due_emails(store, limit)
    if not rows:
        return 0
    gate = asyncio.Semaphore(concurrency)

    async def send(row: Any) -> None:
        async with gate:
            await _send_one(store, mailer, renderer, row)

    await asyncio.gather(*(send(r) for r in rows))
    return len(rows)


async def recent_emails(db: Database, limit: int = 50) -> list[Any]:
    """The development mailbox: the newest rendered messages."""
    return list(
        await db.fetch_all(
            sa.select(emails)
            .where(emails.c.status.in_(("stored", "sent")))
            .order_by(emails.c.id.desc())
            .limit(limit)
        )
    )


async def get_email(db: Database, email_id: int) -> Any:
    return await db.fetch_one(sa.select(emails).where(emails.c.id == email_id))


async def scrub_pledge_mail(
    db: Database,
    pledge_ids: Sequence[int],
    why: Literal["erased", "anonymised"],
    *,
    resident: str | None = None,
) -> None:
    """Scrub the outbox's copies of the mail of these pledges, in `db`'s transaction (the
    one that blanks the pledges; pledges.erasure and pledges.retention take this function
    as a collaborator).

    "erased" (the resident asked): messages not sent yet are deleted, so none goes out;
    sent ones keep their row (kind, status, times) without address, subject or text. The
    sign-in messages sent to any form of `resident` (a canonical address) go the same way.
    "anonymised" (retention ran out): messages not sent by now never will be, they fail;
    every copy keeps only ANONYMISED_ADDRESS, without subject or text."""
    if why == "anonymised":
        ids = list(pledge_ids)
        # A message not sent by now never will be: its address is gone.
        await db.execute(
            sa.update(emails)
            .where(emails.c.pledge_id.in_(ids), emails.c.status.in_(("queued", "sending")))
            .values(
                status="failed",
                lease_until=None,
                last_error="Not sent: the pledge was anonymised.",
            )
        )
        await db.execute(
            sa.update(emails)
            .where(emails.c.pledge_id.in_(ids))
            .values(to_address=ANONYMISED_ADDRESS, subject="", text_body="", html_body="")
        )
        return
    found: list[int] = []
    if resident is not None:
        found += await _sign_ins_to(db, resident)
    if pledge_ids:
        found += [
            r["id"]
            for r in await db.fetch_all(
                sa.select(emails.c.id).where(emails.c.pledge_id.in_(list(pledge_ids)))
            )
        ]
    if not found:
        return
    await db.execute(sa.delete(emails).where(emails.c.id.in_(found), emails.c.sent_at.is_(None)))
    await db.execute(
        sa.update(emails)
        .where(emails.c.id.in_(found), emails.c.sent_at.is_not(None))
        .values(to_address="", subject="", text_body="", html_body="", last_error=None)
    )


async def _sign_ins_to(db: Database, email_canonical: str) -> list[int]:
    """Resident sign-in messages sent to any form of this canonical address."""
    rows = await db.fetch_all(
        sa.select(emails.c.id, emails.c.to_address).where(
            emails.c.kind == SIGN_IN_KINDS["resident"],
            sa.or_(
                *(
                    sa.func.lower(emails.c.to_address).endswith(f"@{d}", autoescape=True)
                    for d in address_domains(email_canonical)
                )
            ),
        )
    )
    return [r["id"] for r in rows if canonical_email(r["to_address"]) == email_canonical]
