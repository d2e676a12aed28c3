"""Residents' reports of a campaign or of one of its updates, and what administrators do
about them.

Anyone may report, without an account: a reason from REPORT_REASONS, a few words (needed
for "something else"), and an email address if they would like a reply. Reports from one
client address are limited (REPORT_RATE_LIMIT), counted from the stored reports inside the
write transaction under a lock on the address, as pledges are.

Open reports wait for an administrator, who hides the campaign (pledges.moderation's
hide, in the same transaction), warns its lead (an email written by the administrator,
queued in the outbox by the QueueWarning the caller passes: the outbox is notifications'),
or dismisses the report. Each decision is one report_actions row (who, when, what) that
closes the report: hiding and warning close every open report of the campaign, dismissing
only the one.

The reporter's email and client address are personal data: the address is kept only as
long as the limit looks back (IP_KEPT), the email until REPORTER_EMAIL_KEPT after the
report is closed; a resident's export lists their reports and erasure blanks them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import get_campaign, get_campaign_by_id
from pledges.errors import (
    CampaignNotFound,
    FieldError,
    RateLimited,
    ValidationFailed,
    WrongState,
)
from pledges.identity import canonical_email, is_valid_email
from pledges.moderation import set_hidden_in_transaction
from pledges.rate_limits import RateLimit, RateWindow
from pledges.store import Store, aware, utcnow
from pledges.tables import campaign_updates, campaigns, leads, report_actions, reports

# The published list of reasons, in the order the form shows them.
REPORT_REASONS = {
    "misleading": "It is misleading or untrue",
    "offensive": "It is offensive, hateful or abusive",
    "personal_details": "It shares someone's personal details",
    "spam": "It is spam or advertising",
    "illegal": "It asks for something illegal or dangerous",
    "other": "Something else",
}
MAX_DETAILS = 1000
MAX_MESSAGE = 5000
# From one client address: at most 3 reports in 10 minutes and 10 in a day.
REPORT_RATE_LIMIT: RateLimit = (RateWindow(3, 600), RateWindow(10, 86400))
# The client address is needed only while the limit looks back at it.
IP_KEPT = timedelta(days=2)
# A reporter's email, for a reply: kept this long after the report is closed.
REPORTER_EMAIL_KEPT = timedelta(days=30)
ACTIONS = ("hide", "warn", "dismiss")
# Line breaks and tabs are fine in free text; no other control character.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class ReportRateLimited(RateLimited):
    """Too many reports from one client address; nothing was stored. `window` is the limit
    that was reached (the longest wait, when several were)."""

    def __init__(self, retry_after_seconds: int, window: RateWindow) -> None:
        super().__init__(retry_after_seconds)
        self.window = window


class ReportClosed(WrongState):
    """Another administrator dealt with the report first."""

    def __init__(self) -> None:
        super().__init__("This report has already been dealt with.")


@dataclass(frozen=True)
class ReportInput:
    reason: str
    details: str
    email: str | None


def parse_report(data: Any) -> ReportInput:
    """A report from what the resident sent; every problem at once, by field."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    reason = data.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        errors.append(FieldError("reason", "required", "Choose why you are reporting this."))
    elif reason not in REPORT_REASONS:
        errors.append(
            FieldError(
                "reason",
                "not_in_choices",
                "Choose a reason from the list.",
                {"choices": tuple(REPORT_REASONS)},
            )
        )
    details = data.get("details")
    details = details if isinstance(details, str) else ""
    details = details.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(details) > MAX_DETAILS:
        errors.append(
            FieldError(
                "details",
                "too_long",
                f"Say what is wrong in {MAX_DETAILS} characters or fewer.",
                {"max": MAX_DETAILS},
            )
        )
    elif _CONTROL.search(details):
        errors.append(
            FieldError(
                "details",
                "contains_control",
                "What you wrote contains a hidden control character: type it again.",
            )
        )
    elif reason == "other" and not details:
        errors.append(FieldError("details", "required", "Say what is wrong."))
    email = data.get("email")
    email = email.strip() if isinstance(email, str) else ""
    if email and (_CONTROL.search(email) or not is_valid_email(email)):
        errors.append(
            FieldError(
                "email",
                "not_an_email",
                "Enter an email address in the right format, like name@example.com, "
                "or leave it empty.",
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return ReportInput(reason, details, email or None)


async def _check_rate(db: Database, ip: str, limit: RateLimit, now: datetime) -> None:
    """Inside the transaction holding the address's lock (file_report takes it)."""
    longest = max(w.seconds for w in limit)
    rows = await db.fetch_all(
        sa.select(reports.c.created_at)
        .where(reports.c.ip == ip, reports.c.created_at > now - timedelta(seconds=longest))
        .order_by(reports.c.created_at.desc())
        .limit(max(w.pledges for w in limit))
    )
    recent = [t for r in rows if (t := aware(r["created_at"])) is not None]
    waits: list[tuple[float, RateWindow]] = []
    for window in limit:
        inside = [t for t in recent if t > now - timedelta(seconds=window.seconds)]
        if len(inside) >= window.pledges:
            # One more is allowed once the window's oldest counted report leaves it.
            leaves = inside[window.pledges - 1] + timedelta(seconds=window.seconds)
            waits.append(((leaves - now).total_seconds(), window))
    if waits:
        wait, window = max(waits, key=lambda w: w[0])
        raise ReportRateLimited(max(1, math.ceil(wait)), window)


async def file_report(
    store: Store,
    slug: str,
    report: ReportInput,
    *,
    update_id: int | None = None,
    ip: str | None,
    limit: RateLimit = REPORT_RATE_LIMIT,
    now: datetime | None = None,
) -> int:
    """Store a report of a public campaign (or of one of its updates) for administrators;
    returns its id. CampaignNotFound for a draft, a hidden campaign or an update that is
    not the campaign's; ReportRateLimited over the limit. Nothing is stored on an error."""
    if "\x00" in slug:
        raise CampaignNotFound(slug)
    async with store.write() as db:
        if ip and limit:  # the lock first, so `now` is later than every report it counts
            await store.lock_until_commit(db, f"report-rate:{ip}")
        now = now or utcnow()
        campaign = await get_campaign(db, slug)
        if not campaign.is_public:
            raise CampaignNotFound(slug)
        if update_id is not None:
            found = await db.fetch_val(
                sa.select(campaign_updates.c.id).where(
                    campaign_updates.c.id == update_id,
                    campaign_updates.c.campaign_id == campaign.id,
                )
            )
            if found is None:
                raise CampaignNotFound(slug)
        if ip and limit:
            await _check_rate(db, ip, limit, now)
        report_id = await db.fetch_val(
            sa.insert(reports)
            .values(
                campaign_id=campaign.id,
                update_id=update_id,
                reason=report.reason,
                details=report.details,
                reporter_email=report.email,
                reporter_email_canonical=canonical_email(report.email) if report.email else None,
                ip=ip,
                created_at=now,
            )
            .returning(reports.c.id)
        )
    return int(report_id)


# The administrators' queue


@dataclass(frozen=True)
class OpenReport:
    id: int
    campaign_slug: str
    campaign_title: str
    campaign_hidden: bool
    update_id: int | None
    update_title: str | None
    reason: str
    details: str
    reporter_email: str | None
    created_at: datetime

    @property
    def reason_words(self) -> str:
        return REPORT_REASONS.get(self.reason, self.reason)


async def open_reports(db: Database, limit: int = 500) -> list[OpenReport]:
    """The reports no administrator has dealt with, oldest first."""
    rows = await db.fetch_all(
        sa.select(
            reports,
            campaigns.c.slug,
            campaigns.c.title,
            campaigns.c.hidden_at,
            campaign_updates.c.title.label("update_title"),
        )
        .select_from(
            reports.join(campaigns, campaigns.c.id == reports.c.campaign_id).outerjoin(
                campaign_updates, campaign_updates.c.id == reports.c.update_id
            )
        )
        .where(reports.c.closed_at.is_(None))
        .order_by(reports.c.created_at, reports.c.id)
        .limit(limit)
    )
    return [
        OpenReport(
            id=r["id"],
            campaign_slug=r["slug"],
            campaign_title=r["title"],
            campaign_hidden=r["hidden_at"] is not None,
            update_id=r["update_id"],
            update_title=r["update_title"],
            reason=r["reason"],
            details=r["details"],
            reporter_email=r["reporter_email"],
            created_at=aware(r["created_at"]),  # type: ignore[arg-type]
        )
        for r in rows
    ]


@dataclass(frozen=True)
class ReportDecision:
    """One administrator's action on reports, as the record shows it."""

    id: int
    campaign_slug: str
    campaign_title: str
    action: str
    admin_email: str
    message: str | None
    created_at: datetime
    reports_closed: int


async def recent_decisions(db: Database, limit: int = 50) -> list[ReportDecision]:
    """The newest actions on reports: who did what, when, and how many reports it closed."""
    closed = (
        sa.select(reports.c.action_id, sa.func.count().label("n"))
        .where(reports.c.action_id.is_not(None))
        .group_by(reports.c.action_id)
        .subquery()
    )
    rows = await db.fetch_all(
        sa.select(report_actions, campaigns.c.slug, campaigns.c.title, closed.c.n)
        .select_from(
            report_actions.join(
                campaigns, campaigns.c.id == report_actions.c.campaign_id
            ).outerjoin(closed, closed.c.action_id == report_actions.c.id)
        )
        .order_by(report_actions.c.created_at.desc(), report_actions.c.id.desc())
        .limit(limit)
    )
    return [
        ReportDecision(
            id=r["id"],
            campaign_slug=r["slug"],
            campaign_title=r["title"],
            action=r["action"],
            admin_email=r["admin_email"],
            message=r["message"],
            created_at=aware(r["created_at"]),  # type: ignore[arg-type]
            reports_closed=int(r["n"] or 0),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class LeadWarning:
    """An administrator's warning to a campaign's lead, to be emailed."""

    action_id: int
    lead_email: str
    campaign_slug: str
    campaign_title: str
    message: str


class QueueWarning(Protocol):
    """Queues the warning's email in the caller's transaction (notifications.moderation_mail)."""

    async def __call__(self, db: Database, warning: LeadWarning) -> None: ...


@dataclass(frozen=True)
class DecisionOutcome:
    action: str
    campaign_slug: str
    campaign_title: str
    reports_closed: int


def parse_warning(message: Any) -> str:
    text = message if isinstance(message, str) else ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        error = FieldError("message", "required", "Write the message to the lead.")
    elif len(text) > MAX_MESSAGE:
        error = FieldError(
            "message",
            "too_long",
            f"The message must be {MAX_MESSAGE} characters or fewer.",
            {"max": MAX_MESSAGE},
        )
    elif _CONTROL.search(text):
        error = FieldError(
            "message", "contains_control", "The message contains a hidden control character."
        )
    else:
        return text
    raise ValidationFailed([error])


async def decide_report(
    store: Store,
    report_id: int,
    action: str,
    admin_email: str,
    *,
    message: str | None = None,
    queue_warning: QueueWarning | None = None,
) -> DecisionOutcome:
    """An administrator's action on an open report: "hide" the campaign, "warn" its lead
    (needs `message` and `queue_warning`), or "dismiss". Recorded with who and when, in
    the transaction that closes the report(s). ReportClosed if someone else was first."""
    if action not in ACTIONS:
        raise ValidationFailed(
            [FieldError("action", "not_in_choices", "Choose hide, warn or dismiss.")]
        )
    text = parse_warning(message) if action == "warn" else None
    if action == "warn" and queue_warning is None:
        raise ValueError("warning a lead needs queue_warning")
    if not 0 < report_id < 2**63:
        raise ReportClosed()
    async with store.write() as db:
        query = sa.select(reports.c.campaign_id).where(
            reports.c.id == report_id, reports.c.closed_at.is_(None)
        )
        if not store.is_sqlite:
            query = query.with_for_update()  # a second administrator waits, then finds it closed
        campaign_id = await db.fetch_val(query)
        if campaign_id is None:
            raise ReportClosed()
        campaign = await get_campaign_by_id(db, campaign_id)
        now = utcnow()
        action_id = await db.fetch_val(
            sa.insert(report_actions)
            .values(
                campaign_id=campaign.id,
                action=action,
                admin_email=admin_email,
                message=text,
                created_at=now,
            )
            .returning(report_actions.c.id)
        )
        if action == "hide":
            await set_hidden_in_transaction(db, campaign, True)
        elif action == "warn":
            lead_email = await db.fetch_val(
                sa.select(leads.c.email).where(leads.c.id == campaign.lead_id)
            )
            assert queue_warning is not None and text is not None
            await queue_warning(
                db, LeadWarning(int(action_id), lead_email, campaign.slug, campaign.title, text)
            )
        which = (
            reports.c.id == report_id
            if action == "dismiss"
            else reports.c.campaign_id == campaign.id
        )
        closed = await db.fetch_all(
            sa.update(reports)
            .where(which, reports.c.closed_at.is_(None))
            .values(action_id=action_id, closed_at=now)
            .returning(reports.c.id)
        )
    return DecisionOutcome(action, campaign.slug, campaign.title, len(closed))


# Personal data


async def reporter_known(db: Database, email: str) -> bool:
    """Whether a report not yet erased gave this address (in any of its forms)."""
    found = await db.fetch_val(
        sa.select(reports.c.id)
        .where(reports.c.reporter_email_canonical == canonical_email(email))
        .limit(1)
    )
    return found is not None


async def reports_by(db: Database, email_canonical: str) -> list[dict[str, Any]]:
    """A resident's reports, for their download: what they said and what became of it."""
    rows = await db.fetch_all(
        sa.select(
            reports,
            campaigns.c.slug,
            campaigns.c.title,
            campaign_updates.c.title.label("update_title"),
        )
        .select_from(
            reports.join(campaigns, campaigns.c.id == reports.c.campaign_id).outerjoin(
                campaign_updates, campaign_updates.c.id == reports.c.update_id
            )
        )
        .where(reports.c.reporter_email_canonical == email_canonical)
        .order_by(reports.c.created_at, reports.c.id)
    )
    found = []
    for r in rows:
        created, closed = aware(r["created_at"]), aware(r["closed_at"])
        found.append(
            {
                "report_id": r["id"],
                "campaign": {"slug": r["slug"], "title": r["title"]},
                "update": r["update_title"],
                "reason": REPORT_REASONS.get(r["reason"], r["reason"]),
                "details": r["details"],
                "email": r["reporter_email"],
                "ip_address": r["ip"],
                "reported_at": created.isoformat() if created else None,
                "closed_at": closed.isoformat() if closed else None,
            }
        )
    return found


async def erase_reporter(db: Database, email_canonical: str) -> int:
    """Inside the erasure's transaction: the resident's reports lose their address, client
    address and words (the reason stays for the administrators); returns how many."""
    erased = await db.fetch_all(
        sa.update(reports)
        .where(reports.c.reporter_email_canonical == email_canonical)
        .values(reporter_email=None, reporter_email_canonical=None, ip=None, details="")
        .returning(reports.c.id)
    )
    return len(erased)


async def forget_reporters(store: Store, now: datetime | None = None) -> int:
    """Retention: blank client addresses older than IP_KEPT, and reporters' emails of
    reports closed more than REPORTER_EMAIL_KEPT ago; returns how many reports changed."""
    now = now or utcnow()
    old_ip = sa.and_(reports.c.ip.is_not(None), reports.c.created_at < now - IP_KEPT)
    old_email = sa.and_(
        reports.c.reporter_email.is_not(None),
        reports.c.closed_at < now - REPORTER_EMAIL_KEPT,
    )
    due = await store.database.fetch_val(
        sa.select(reports.c.id).where(sa.or_(old_ip, old_email)).limit(1)
    )
    if due is None:
        return 0  # the common case: no write transaction
    async with store.write() as db:
        ips = await db.fetch_all(
            sa.update(reports).where(old_ip).values(ip=None).returning(reports.c.id)
        )
        mails = await db.fetch_all(
            sa.update(reports)
            .where(old_email)
            .values(reporter_email=None, reporter_email_canonical=None)
            .returning(reports.c.id)
        )
    return len({r["id"] for r in ips} | {r["id"] for r in mails})
