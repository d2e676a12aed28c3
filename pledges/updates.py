"""Updates a campaign's lead posts to its pledgers: stored, shown on the campaign page,
and emailed (through the journal event "campaign.update_posted") to confirmed pledgers
who have not unsubscribed.

Each update is an email to everyone who pledged, so a campaign may post at most one a day
and three a week. The limit is checked inside the write transaction, under a per-campaign
lock, so two updates posted at once cannot both slip under it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.errors import (
    CampaignNotFound,
    CampaignNotOpen,
    DomainError,
    FieldError,
    NotCampaignLead,
    ValidationFailed,
)
from pledges.journal import record_event
from pledges.store import Store, aware, utcnow
from pledges.tables import campaign_updates, campaigns, events
from pledges.text import text_error
from pledges.titles import read_title

# (how many updates, in how long): at most one a day and three a week.
UPDATE_LIMITS = ((1, timedelta(hours=24)), (3, timedelta(days=7)))
MAX_TITLE = 200
MAX_BODY = 5000


class UpdateRateLimited(DomainError):
    """Too many updates lately; nothing was stored."""

    def __init__(self, next_allowed_at: datetime) -> None:
        super().__init__(f"The next update can be posted after {next_allowed_at.isoformat()}.")
        self.next_allowed_at = next_allowed_at


@dataclass(frozen=True)
class CampaignUpdate:
    id: int
    campaign_id: int
    title: str
    body: str
    created_at: datetime

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.body.split("\n\n") if p.strip()]


def _update_from_row(row: Any) -> CampaignUpdate:
    return CampaignUpdate(
        id=row["id"],
        campaign_id=row["campaign_id"],
        title=row["title"],
        body=row["body"],
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class UpdateInput:
    """An update as parse_update checked it: a title on one line (it becomes an email
    subject) and a body of plain text."""

    title: str
    body: str


def parse_update(data: Any) -> UpdateInput:
    """An update from what the lead sent; every problem at once, by field."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    title = read_title(data, errors, longest=MAX_TITLE, missing="Enter a title.")
    body = data.get("body")
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip() if isinstance(body, str) else ""
    if not body:
        errors.append(FieldError("body", "required", "Enter the update."))
    elif len(body) > MAX_BODY:
        errors.append(
            FieldError(
                "body",
                "too_long",
                f"The update must be {MAX_BODY} characters or fewer.",
                {"max": MAX_BODY},
            )
        )
    elif error := text_error("body", body, one_line=False, what="The update"):
        errors.append(error)
    if errors:
        raise ValidationFailed(errors)
    return UpdateInput(title, body)


def next_update_allowed(recent: Sequence[datetime], now: datetime) -> datetime | None:
    """None when an update may be posted now; otherwise the earliest time one may be.
    `recent` holds when the campaign's earlier updates were posted."""
    latest: datetime | None = None
    for limit, period in UPDATE_LIMITS:
        inside = sorted((t for t in recent if t > now - period), reverse=True)
        if len(inside) >= limit:
            # Allowed again once the limit-th newest update leaves the window.
            frees_at = inside[limit - 1] + period
            latest = frees_at if latest is None else max(latest, frees_at)
    return latest


async def post_update(
    store: Store, slug: str, lead_id: int, update: UpdateInput, now: datetime | None = None
) -> CampaignUpdate:
    """Store an update and its journal event (which emails the pledgers), or raise
    ValidationFailed, UpdateRateLimited, or CampaignNotOpen for a draft or a campaign an
    administrator has hidden."""
    title, body = update.title, update.body
    if "\x00" in slug:
        raise CampaignNotFound(slug)
    async with store.write() as db:
        now = now or utcnow()
        row = await db.fetch_one(
            sa.select(
                campaigns.c.id, campaigns.c.lead_id, campaigns.c.status, campaigns.c.hidden_at
            ).where(campaigns.c.slug == slug)
        )
        if row is None:
            raise CampaignNotFound(slug)
        if row["lead_id"] != lead_id:
            raise NotCampaignLead(slug)
        if row["status"] in ("draft", "pending_review"):  # not published: nobody to tell
            raise CampaignNotOpen(row["status"])
        if row["hidden_at"] is not None:  # an administrator stopped it: no mail to pledgers
            raise CampaignNotOpen("hidden")
        campaign_id = row["id"]
        await store.lock_until_commit(db, f"campaign-updates:{campaign_id}")
        longest = max(period for _, period in UPDATE_LIMITS)
        recent = await db.fetch_all(
            sa.select(campaign_updates.c.created_at).where(
                campaign_updates.c.campaign_id == campaign_id,
                campaign_updates.c.created_at > now - longest,
            )
        )
        times = [t for r in recent if (t := aware(r["created_at"])) is not None]
        next_allowed = next_update_allowed(times, now)
        if next_allowed is not None:
            raise UpdateRateLimited(next_allowed)
        update_id = await db.fetch_val(
            sa.insert(campaign_updates)
            .values(campaign_id=campaign_id, title=title, body=body, created_at=now)
            .returning(campaign_updates.c.id)
        )
        await record_event(db, "campaign.update_posted", campaign_id, {"update_id": update_id})
    return CampaignUpdate(int(update_id), campaign_id, title, body, now)


async def list_updates(db: Database, campaign_id: int, limit: int = 50) -> list[CampaignUpdate]:
    """A campaign's updates, newest first."""
    rows = await db.fetch_all(
        sa.select(campaign_updates)
        .where(campaign_updates.c.campaign_id == campaign_id)
        .order_by(campaign_updates.c.created_at.desc(), campaign_updates.c.id.desc())
        .limit(limit)
    )
    return [_update_from_row(r) for r in rows]


async def get_update(db: Database, update_id: int) -> CampaignUpdate | None:
    row = await db.fetch_one(sa.select(campaign_updates).where(campaign_updates.c.id == update_id))
    return _update_from_row(row) if row is not None else None


async def update_for_event(db: Database, event_id: int) -> CampaignUpdate | None:
    """The update a "campaign.update_posted" event announced (for its emails)."""
    payload = await db.fetch_val(sa.select(events.c.payload).where(events.c.id == event_id))
    if payload is None:
        return None
    update_id = json.loads(payload).get("update_id")
    return await get_update(db, int(update_id)) if update_id is not None else None
