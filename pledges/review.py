"""Review of campaigns by the site's administrators (MODERATION=pre or post).

Publishing under MODERATION=pre puts a campaign in "pending_review": it is in the
administrators' queue and on no public page, list, API answer or webhook. Approving it
opens it, with the "campaign.opened" event publishing always writes; rejecting it returns
it to a draft the lead can edit and publish again. Under MODERATION=post a campaign goes
live at once and waits in the queue; rejecting it then hides it (pledges.moderation).

Every decision is kept (who, when, which reason from REJECTION_REASONS, free text) and
journalled ("campaign.approved", "campaign.rejected": inside events that email the lead
and never reach webhooks). Like UK Parliament's e-petitions, the reasons are published,
and so are the titles of rejected campaigns, except those rejected for what must not be
repeated (personal information, offensive or unlawful content).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import (
    UNPUBLISHED,
    Campaign,
    get_campaign,
    get_campaign_by_id,
    load_campaigns,
)
from pledges.errors import DomainError, FieldError, ValidationFailed
from pledges.journal import record_event
from pledges.store import Store, aware, utcnow
from pledges.tables import campaigns, moderation_decisions

MAX_NOTE = 2000
QUEUE_LIMIT = 500


@dataclass(frozen=True)
class RejectionReason:
    code: str
    title: str
    description: str
    # False: the campaign's title is not repeated on the public page of rejections.
    title_published: bool = True


# The published list, after e-petitions' "Why petitions are rejected" (its standards page).
REJECTION_REASONS = (
    RejectionReason(
        "duplicate",
        "There is already a campaign for this",
        "An open campaign already asks for the same service in the same area. Support for "
        "one cause split over two campaigns helps neither: join the open one instead.",
    ),
    RejectionReason(
        "no_service",
        "It does not ask for a service",
        "A campaign gathers pledges towards a service a provider or a council could supply "
        "to the area: broadband, collections, a supplier, transport. Campaigns about other "
        "things (opinions, complaints about a person) belong elsewhere.",
    ),
    RejectionReason(
        "unclear",
        "It is not clear what it asks for",
        "What residents pledge to, where, or from whom is not clear enough for a resident "
        "to know what they are signing up to, or for a provider to answer.",
    ),
    RejectionReason(
        "implausible",
        "Its area or target cannot be right",
        "The area, the target or the deadline cannot be what was meant: for example a target "
        "larger than the number of homes in the area.",
    ),
    RejectionReason(
        "advertising",
        "It is advertising",
        "It promotes a business, a product, a political party or a candidate instead of "
        "asking for a service on residents' behalf.",
    ),
    RejectionReason(
        "personal_data",
        "It includes personal information",
        "It names or identifies a private person, or includes someone's contact details. "
        "Its title is not shown here.",
        title_published=False,
    ),
    RejectionReason(
        "offensive",
        "It is offensive, false or unlawful",
        "It uses offensive language, makes claims that could be defamatory or false, or could "
        "be unlawful. Its title is not shown here.",
        title_published=False,
    ),
    RejectionReason(
        "other",
        "Another reason",
        "Something else, which the administrator's note explains to the campaign's lead.",
    ),
)
REASONS_BY_CODE = {r.code: r for r in REJECTION_REASONS}


DEADLINE_PASSED = FieldError(
    "deadline",
    "not_in_future",
    "Its deadline passed while it waited: reject it (another reason), so that its lead can "
    "set a later one.",
)


class NotAwaitingReview(DomainError):
    """Approve or reject a campaign that is not in the review queue."""

    def __init__(self, slug: str, moderation: str | None) -> None:
        super().__init__(f"Campaign {slug} is not waiting for review ({moderation or 'never'}).")
        self.slug = slug
        self.moderation = moderation


@dataclass(frozen=True)
class Decision:
    id: int
    campaign_id: int
    campaign_slug: str
    campaign_title: str
    administrator: str
    decision: str  # approve | reject
    reason: str | None
    note: str
    mode: str  # pre | post
    decided_at: datetime

    @property
    def reason_title(self) -> str:
        found = REASONS_BY_CODE.get(self.reason or "")
        return found.title if found else ""


def _decision(row: Any) -> Decision:
    return Decision(
        id=row["id"],
        campaign_id=row["campaign_id"],
        campaign_slug=row["slug"],
        campaign_title=row["title"],
        administrator=row["administrator"],
        decision=row["decision"],
        reason=row["reason"],
        note=row["note"],
        mode=row["mode"],
        decided_at=aware(row["decided_at"]),  # type: ignore[arg-type]
    )


def _decisions_query() -> sa.Select[Any]:
    return (
        sa.select(moderation_decisions, campaigns.c.slug, campaigns.c.title)
        .select_from(
            moderation_decisions.join(
                campaigns, campaigns.c.id == moderation_decisions.c.campaign_id
            )
        )
        .order_by(moderation_decisions.c.decided_at.desc(), moderation_decisions.c.id.desc())
    )


def parse_rejection(reason: Any, note: Any) -> tuple[str, str]:
    """A reason code from REJECTION_REASONS and a note (required with "other"), checked;
    ValidationFailed names the field."""
    errors: list[FieldError] = []
    code = reason.strip() if isinstance(reason, str) else ""
    text = note.strip() if isinstance(note, str) else ""
    if code not in REASONS_BY_CODE:
        errors.append(
            FieldError(
                "reason",
                "not_in_choices",
                "Choose the reason for rejecting it.",
                {"choices": list(REASONS_BY_CODE)},
            )
        )
    if note is not None and not isinstance(note, str):
        errors.append(FieldError("note", "not_text", "Must be text."))
    elif len(text) > MAX_NOTE:
        errors.append(
            FieldError("note", "too_long", f"At most {MAX_NOTE} characters.", {"max": MAX_NOTE})
        )
    elif "\x00" in text:
        errors.append(FieldError("note", "contains_nul", "Must not contain a NUL character."))
    elif code == "other" and not text:
        errors.append(
            FieldError("note", "required", "Say why: the lead reads this with “Another reason”.")
        )
    if errors:
        raise ValidationFailed(errors)
    return code, text


async def _queued(db: Database, slug: str) -> Campaign:
    campaign = await get_campaign(db, slug)
    if campaign.moderation != "pending":
        raise NotAwaitingReview(slug, campaign.moderation)
    return campaign


async def _record_decision(
    db: Database,
    campaign: Campaign,
    administrator: str,
    decision: str,
    reason: str | None,
    note: str,
) -> int:
    mode = "pre" if campaign.status == "pending_review" else "post"
    decision_id = int(
        await db.fetch_val(
            sa.insert(moderation_decisions)
            .values(
                campaign_id=campaign.id,
                administrator=administrator,
                decision=decision,
                reason=reason,
                note=note,
                mode=mode,
                decided_at=utcnow(),
            )
            .returning(moderation_decisions.c.id)
        )
    )
    kind = "campaign.approved" if decision == "approve" else "campaign.rejected"
    await record_event(
        db, kind, campaign.id, {"slug": campaign.slug, "decision_id": decision_id, "mode": mode}
    )
    return decision_id


async def approve_campaign(store: Store, slug: str, administrator: str) -> Campaign:
    """Approve a campaign in the queue: one waiting (pre) opens now, and publishing's
    "campaign.opened" goes out; a live one (post) stays as it is. The lead is emailed."""
    async with store.write() as db:
        campaign = await _queued(db, slug)
        now = utcnow()
        values: dict[str, Any] = {"moderation": "approved"}
        waiting = campaign.status == "pending_review"
        if waiting and campaign.deadline <= now:  # opened, it would close at once
            raise ValidationFailed([DEADLINE_PASSED])
        if waiting:
            values |= {"status": "open", "opened_at": now}
        row = await db.fetch_one(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign.id, campaigns.c.moderation == "pending")
            .values(**values)
            .returning(campaigns.c.id)
        )
        if row is None:  # decided by another administrator meanwhile
            raise NotAwaitingReview(slug, None)
        await _record_decision(db, campaign, administrator, "approve", None, "")
        approved = await get_campaign_by_id(db, campaign.id)
        if waiting:
            await record_event(db, "campaign.opened", approved.id, approved.public_payload())
        return approved


async def reject_campaign(
    store: Store, slug: str, administrator: str, reason: Any, note: Any
) -> Campaign:
    """Reject a campaign in the queue with a reason from REJECTION_REASONS (and a note): one
    waiting (pre) goes back to a draft its lead can edit and publish again; a live one
    (post) is hidden from every public surface. The lead is emailed the reason."""
    code, text = parse_rejection(reason, note)
    async with store.write() as db:
        campaign = await _queued(db, slug)
        now = utcnow()
        values: dict[str, Any] = {"moderation": "rejected"}
        if campaign.status == "pending_review":
            values |= {"status": "draft"}
        elif campaign.hidden_at is None:
            values |= {"hidden_at": now}
        row = await db.fetch_one(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign.id, campaigns.c.moderation == "pending")
            .values(**values)
            .returning(campaigns.c.id)
        )
        if row is None:
            raise NotAwaitingReview(slug, None)
        await _record_decision(db, campaign, administrator, "reject", code, text)
        if "hidden_at" in values:  # as an administrator's hide records it
            await record_event(db, "campaign.hidden", campaign.id, {"slug": campaign.slug})
        return await get_campaign_by_id(db, campaign.id)


async def review_queue(db: Database) -> list[Campaign]:
    """Campaigns waiting for an administrator's decision, the longest waiting first."""
    return await load_campaigns(
        db,
        sa.select(campaigns)
        .where(campaigns.c.moderation == "pending")
        .order_by(campaigns.c.submitted_at, campaigns.c.id)
        .limit(QUEUE_LIMIT),
    )


async def recent_decisions(db: Database, limit: int = 100) -> list[Decision]:
    """Every campaign's decisions, newest first: for the administrators."""
    return [_decision(r) for r in await db.fetch_all(_decisions_query().limit(limit))]


async def decisions_for_campaign(db: Database, campaign_id: int) -> list[Decision]:
    """One campaign's decisions, newest first."""
    query = _decisions_query().where(moderation_decisions.c.campaign_id == campaign_id)
    return [_decision(r) for r in await db.fetch_all(query)]


async def get_decision(db: Database, decision_id: int) -> Decision | None:
    row = await db.fetch_one(_decisions_query().where(moderation_decisions.c.id == decision_id))
    return _decision(row) if row is not None else None


@dataclass(frozen=True)
class PublicRejection:
    """A rejection as the public page shows it: no administrator, no lead, no note."""

    title: str | None  # None: rejected for a reason whose titles are not repeated
    reason: RejectionReason
    decided_at: datetime


async def public_rejections(db: Database, limit: int = 200) -> list[PublicRejection]:
    """Campaigns rejected and not approved since, newest first, as the public may see them."""
    latest = (
        sa.select(
            moderation_decisions.c.campaign_id,
            sa.func.max(moderation_decisions.c.id).label("last_id"),
        )
        .group_by(moderation_decisions.c.campaign_id)
        .subquery()
    )
    rows = await db.fetch_all(
        sa.select(
            campaigns.c.title, moderation_decisions.c.reason, moderation_decisions.c.decided_at
        )
        .select_from(
            latest.join(moderation_decisions, moderation_decisions.c.id == latest.c.last_id).join(
                campaigns, campaigns.c.id == latest.c.campaign_id
            )
        )
        .where(
            moderation_decisions.c.decision == "reject",
            campaigns.c.moderation == "rejected",
            # Not one an administrator has shown again since: the page would contradict it.
            sa.or_(campaigns.c.status.in_(UNPUBLISHED), campaigns.c.hidden_at.is_not(None)),
        )
        .order_by(moderation_decisions.c.decided_at.desc(), moderation_decisions.c.id.desc())
        .limit(limit)
    )
    found = []
    for r in rows:
        reason = REASONS_BY_CODE.get(r["reason"] or "", REASONS_BY_CODE["other"])
        found.append(
            PublicRejection(
                title=r["title"] if reason.title_published else None,
                reason=reason,
                decided_at=aware(r["decided_at"]),  # type: ignore[arg-type]
            )
        )
    return found
