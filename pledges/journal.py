"""The events journal: append-only records of what happened, written in the same
transaction as the change. It is the seam that notifications/ reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.store import aware, mark_campaign_changed, mark_journal_written, utcnow
from pledges.tables import events

# Events that outside parties may subscribe to; the pledge.* ones stay inside.
PUBLIC_EVENT_TYPES = (
    "campaign.opened",
    "campaign.milestone",
    "campaign.tipped",
    "campaign.expired",
    "campaign.cancelled",
    # A tipped money campaign whose charging is over, with what was collected.
    "campaign.funded",
    # A chosen provider's delivery milestone passed its date undone (pledges.delivery).
    "delivery.milestone_missed",
    # A provider's or council's public response to a campaign's residents.
    "campaign.responded",
    # Offers and the choice round after a tip: a provider's offer posted or withdrawn, the
    # round opened and closed (with every offer's results), and each provider's own totals.
    "offer.published",
    "offer.withdrawn",
    "campaign.choice_opened",
    "campaign.choice_closed",
    "offer.chosen",
)
# Events that change nothing a campaign's public page or JSON shows (a pledge is shown,
# and counted, once it is confirmed): what was rendered from the campaign stays good.
UNSEEN_EVENTS = frozenset({"pledge.created", "pledge.repeated"})
# Keys of an event's payload besides the campaign's public payload, copied into the
# webhook's `data` beside `campaign` (see notifications/webhooks.message_body).
EVENT_EXTRAS = ("response", "offer", "offers", "results", "choice_round", "milestone")
# An event whose payload names an organisation goes to that organisation's endpoints alone.
TARGET_ORGANISATION = "organisation_id"


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    campaign_id: int | None
    payload: dict[str, Any]
    created_at: datetime


def event_from_row(row: Any) -> Event:
    return Event(
        id=row["id"],
        type=row["type"],
        campaign_id=row["campaign_id"],
        payload=json.loads(row["payload"]),
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
    )


async def record_event(
    db: Database, type: str, campaign_id: int | None, payload: dict[str, Any]
) -> int:
    """Append one event; call inside the write transaction of the change it records."""
    mark_journal_written()
    if type not in UNSEEN_EVENTS:
        mark_campaign_changed(campaign_id)
    return int(
        await db.fetch_val(
            sa.insert(events)
            .values(
                type=type,
                campaign_id=campaign_id,
                payload=json.dumps(payload, sort_keys=True, default=str),
                created_at=utcnow(),
            )
            .returning(events.c.id)
        )
    )


async def events_for_campaign(db: Database, campaign_id: int) -> list[Event]:
    rows = await db.fetch_all(
        sa.select(events).where(events.c.campaign_id == campaign_id).order_by(events.c.id)
    )
    return [event_from_row(r) for r in rows]
