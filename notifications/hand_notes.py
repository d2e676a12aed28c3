"""The "to tell by hand" list: what Groundswell would have emailed a resident who pledged
without an email address (their lead recorded the pledge), for the lead to pass on at the
door or by phone.

Dispatch writes a note where the outbox would queue an email (notifications/outbox.py
calls in here): one row per message and pledge, unique by the same dedupe key as the
outbox's, in the dispatch transaction, so each is written exactly once however often
dispatch runs. A campaign's news reads the same for everyone it goes to, so a note is
rendered once per event: its subject is the email's, its text a short spoken version of
the email (templates/hand/), without the links an email carries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from databases import Database
from jinja2 import Environment, FileSystemLoader, TemplateNotFound, select_autoescape

from notifications.messages import (
    CHOICE_KINDS,
    MAX_SUBJECT,
    SUBJECTS,
    choice_context,
    milestone_words,
)
from notifications.tables import hand_notes
from pledges.campaigns import get_campaign_by_id
from pledges.journal import Event
from pledges.responses import response_for_event
from pledges.store import Store, aware, utcnow
from pledges.tables import events, pledges
from pledges.updates import update_for_event

# Plain text (.txt), read out or printed: not HTML-escaped; the pages escape it when shown.
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Messages that never apply to a pledge without email: it is confirmed when recorded.
NEVER_BY_HAND = frozenset({"confirm", "repeated"})
# The largest page of notes one call reads.
MAX_NOTES = 200


@dataclass(frozen=True)
class HandNote:
    """One message to pass on, with whom to and how to reach them."""

    id: int
    kind: str
    pledge_id: int
    name: str
    postcode: str
    address_line: str | None
    phone: str | None
    subject: str
    body: str
    created_at: datetime
    told_at: datetime | None


def _without_email() -> Any:
    return pledges.c.email.is_(None)


async def render_note(
    db: Database, kind: str, campaign_id: int, event_id: int | None
) -> tuple[str, str]:
    """A note's subject (the email's) and its text, from the campaign and the event."""
    campaign = await get_campaign_by_id(db, campaign_id)
    update = await update_for_event(db, event_id) if event_id is not None else None
    payload = await _event_payload(db, event_id) if event_id is not None else {}
    milestone = payload.get("milestone")
    response = (
        await response_for_event(db, event_id)
        if kind == "response" and event_id is not None
        else None
    )
    subject = SUBJECTS.get(kind, "{title}: news from the campaign").format(
        title=campaign.title,
        update_title=update.title if update else "",
        organisation=response.organisation_name if response else "",
        amount="",
    )
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
    try:
        template = _env.get_template(f"hand/{kind}.txt")
    except TemplateNotFound:
        # A message with no spoken version yet: its subject says what it is about.
        return subject, f"Groundswell would have emailed them: {subject}"
    # The choice round's notes: the offers to read out, or what residents chose.
    choice = (
        await choice_context(db, kind, campaign, event_id, None) if kind in CHOICE_KINDS else {}
    )
    body = template.render(
        campaign=campaign,
        update=update,
        response=response,
        milestone=milestone_words(milestone) if isinstance(milestone, dict) else None,
        **choice,
    ).strip()
    return subject, body


async def _event_payload(db: Database, event_id: int) -> dict[str, Any]:
    payload = await db.fetch_val(sa.select(events.c.payload).where(events.c.id == event_id))
    found = json.loads(payload) if payload is not None else {}
    return found if isinstance(found, dict) else {}


async def note_pledges(
    store: Store, db: Database, kind: str, event: Event, recipients: sa.Select[Any]
) -> None:
    """A message to some of a campaign's pledges (not all its news-takers: those waiting
    for a provider, say), as notes for those of them without email, one each, in `db`'s
    transaction. `recipients` selects pledge ids; the note reads the same for each."""
    if event.campaign_id is None or kind in NEVER_BY_HAND:
        return
    ids = recipients.where(_without_email()).subquery()
    if await db.fetch_val(sa.select(ids.c.id).limit(1)) is None:
        return
    subject, body = await render_note(db, kind, event.campaign_id, event.id)
    now = utcnow()
    rows = sa.select(
        (sa.literal(f"{kind}:{event.id}:") + sa.cast(pledges.c.id, sa.String)).label("dedupe_key"),
        sa.literal(kind).label("kind"),
        pledges.c.id,
        pledges.c.campaign_id,
        sa.literal(event.id).label("event_id"),
        sa.literal(subject, type_=hand_notes.c.subject.type).label("subject"),
        sa.literal(body, type_=hand_notes.c.body.type).label("body"),
        sa.literal(now, type_=hand_notes.c.created_at.type).label("created_at"),
    ).where(pledges.c.id.in_(sa.select(ids.c.id)))
    columns = [
        "dedupe_key",
        "kind",
        "pledge_id",
        "campaign_id",
        "event_id",
        "subject",
        "body",
        "created_at",
    ]
    await db.execute(store.insert_or_ignore(hand_notes).from_select(columns, rows))


async def note_for_pledge(
    store: Store, db: Database, kind: str, dedupe_key: str, event: Event, pledge_id: int
) -> None:
    """A message to one pledge without email (its own news), as a note, in `db`'s
    transaction; nothing for a message that never applies to one (NEVER_BY_HAND)."""
    if kind in NEVER_BY_HAND:
        return
    campaign_id = await db.fetch_val(
        sa.select(pledges.c.campaign_id).where(pledges.c.id == pledge_id)
    )
    if campaign_id is None:
        return
    subject, body = await render_note(db, kind, int(campaign_id), event.id)
    await db.execute(
        store.insert_or_ignore(hand_notes).values(
            dedupe_key=dedupe_key[:120],
            kind=kind,
            pledge_id=pledge_id,
            campaign_id=campaign_id,
            event_id=event.id,
            subject=subject,
            body=body,
            created_at=utcnow(),
        )
    )


def _note_query() -> sa.Select[Any]:
    return (
        sa.select(
            hand_notes,
            pledges.c.name,
            pledges.c.postcode,
            pledges.c.address_line,
            pledges.c.phone,
        )
        .join(pledges, pledges.c.id == hand_notes.c.pledge_id)
        # Anonymised or erased: nobody is left to tell.
        .where(pledges.c.anonymised_at.is_(None))
    )


def _note_from_row(row: Any) -> HandNote:
    created = aware(row["created_at"])
    assert created is not None
    return HandNote(
        id=row["id"],
        kind=row["kind"],
        pledge_id=row["pledge_id"],
        name=row["name"],
        postcode=row["postcode"],
        address_line=row["address_line"],
        phone=row["phone"],
        subject=row["subject"],
        body=row["body"],
        created_at=created,
        told_at=aware(row["told_at"]),
    )


async def untold_notes(
    db: Database, campaign_id: int, *, after_id: int = 0, limit: int = MAX_NOTES
) -> list[HandNote]:
    """The campaign's notes not passed on yet, oldest first, from after `after_id`."""
    rows = await db.fetch_all(
        _note_query()
        .where(
            hand_notes.c.campaign_id == campaign_id,
            hand_notes.c.told_at.is_(None),
            hand_notes.c.id > after_id,
        )
        .order_by(hand_notes.c.id)
        .limit(limit)
    )
    return [_note_from_row(r) for r in rows]


async def untold_count(db: Database, campaign_id: int) -> int:
    return int(
        await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(hand_notes.join(pledges, pledges.c.id == hand_notes.c.pledge_id))
            .where(
                hand_notes.c.campaign_id == campaign_id,
                hand_notes.c.told_at.is_(None),
                pledges.c.anonymised_at.is_(None),
            )
        )
    )


async def get_note(db: Database, campaign_id: int, note_id: int) -> HandNote | None:
    """One of the campaign's notes, told or not; None for any other."""
    row = await db.fetch_one(
        _note_query().where(hand_notes.c.campaign_id == campaign_id, hand_notes.c.id == note_id)
    )
    return _note_from_row(row) if row is not None else None


async def mark_told(store: Store, campaign_id: int, note_ids: Sequence[int]) -> list[int]:
    """Mark these notes of the campaign as passed on (once: a note told already keeps its
    time); returns the ids marked now. Ids of another campaign's notes change nothing."""
    ids = sorted({i for i in note_ids if 0 < i < 2**63})
    if not ids:
        return []
    async with store.write() as db:
        rows = await db.fetch_all(
            sa.update(hand_notes)
            .where(
                hand_notes.c.campaign_id == campaign_id,
                hand_notes.c.id.in_(ids),
                hand_notes.c.told_at.is_(None),
            )
            .values(told_at=utcnow())
            .returning(hand_notes.c.id)
        )
    return sorted(int(r["id"]) for r in rows)
