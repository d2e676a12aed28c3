"""What each email says: rendered from templates at send time, with signed links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import Policy
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from databases import Database
from jinja2 import Environment, FileSystemLoader, select_autoescape

from notifications.offer_words import NO_FEE_STATEMENT, Term, day, offer_terms
from pledges.campaigns import Campaign, get_campaign_by_id
from pledges.choices import ChoiceRound, choice_for_pledge, get_round
from pledges.journal import Event, event_from_row
from pledges.offers import Offer, list_offers
from pledges.payments import GIVE_UP_AFTER, REMIND_AFTER, payment_view
from pledges.pledging import Pledge, get_pledge
from pledges.reports import LeadWarning
from pledges.responses import CampaignResponse, response_for_event
from pledges.review import REASONS_BY_CODE, get_decision
from pledges.tables import events
from pledges.tokens import Signer
from pledges.updates import CampaignUpdate, update_for_event

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
)

SUBJECTS = {
    "confirm": "Confirm your pledge: {title}",
    "repeated": "You have already pledged: {title}",
    "tipped": "It tipped! {title} reached its target",
    "expired": "{title} closed without reaching its target",
    "cancelled": "{title} was cancelled",
    "update": "{title}: {update_title}",
    "response": "{title}: a response from {organisation}",
    "offers": "{title}: the offers are in, choose yours",
    "choice_result": "{title}: what residents chose",
    "pay": "We could not take your {amount} pledge to {title}",
    "pay_reminder": "Reminder: your {amount} pledge to {title} is not paid yet",
    "payment_failed": "Your {amount} pledge to {title} was not taken",
    "paid": "Receipt: your {amount} pledge to {title}",
    "refunded": "Refunded: your {amount} pledge to {title}",
    "delivery_missed": "{title}: a delivery date was missed",
    "offer_withdrawn": "{title}: the offer your home chose was withdrawn",
}
# About a resident's own money (see notifications/outbox.py); each renders from its event.
PAYMENT_KINDS = {"pay", "pay_reminder", "payment_failed", "paid", "refunded"}
# Once paid or given up, withdrawing changes nothing about the money: no withdraw link.
NO_WITHDRAW_LINK = {"payment_failed", "paid", "refunded", "delivery_missed"}
# About the provider a resident chose: each renders from its event's milestone.
DELIVERY_KINDS = {"delivery_missed"}
# A failed charge's code meaning the resident's bank wants them to confirm it themselves.
BANK_WANTS_CONFIRMATION = {"authentication_required", "requires_action"}
SIGN_IN_SUBJECTS = {
    "lead": "Your Groundswell sign-in link",
    "resident": "Your pledges on Groundswell",
}
# Campaign news can be unsubscribed from; a confirmation link cannot.
UNSUBSCRIBABLE = {"tipped", "expired", "cancelled", "update", "response", "choice_result"}
# The choice round's messages: each renders the round and its offers (choice_context).
CHOICE_KINDS = {"offers", "choice_result", "offer_withdrawn"}
# To a campaign's lead about the administrators' review (pledges.review); each renders
# from the decision its event names.
LEAD_REVIEW_SUBJECTS = {
    "campaign_approved": "Approved: {title}",
    "campaign_rejected": "Not published: {title}",
}
# A campaign title and an update's title can each be 200 characters long.
MAX_SUBJECT = 250


def _day(value: datetime) -> str:
    """A date as residents write it: "5 March 2026" (UTC)."""
    return day(value)


def _target(campaign: Campaign) -> str:
    """A money campaign's goal: "3 pledges and £60", or "£60" alone."""
    parts = []
    if campaign.target:
        parts.append(f"{campaign.target} pledges")
    if campaign.money_target:
        parts.append(campaign.money(campaign.money_target))
    return " and ".join(parts)


def _reached(campaign: Campaign) -> str:
    """How far a money campaign got: "2 of the 3 pledges and £40 of the £60"."""
    parts = []
    if campaign.target:
        parts.append(f"{campaign.confirmed} of the {campaign.target} pledges")
    if campaign.money_target:
        parts.append(
            f"{campaign.money(campaign.pledged_amount)} of the "
            f"{campaign.money(campaign.money_target)}"
        )
    return " and ".join(parts)


def milestone_words(milestone: dict[str, Any]) -> dict[str, str]:
    """A delivery event's milestone as an email or a note says it."""
    due_on = date.fromisoformat(str(milestone["due_on"]))
    return {
        "title": str(milestone["title"]),
        "provider": str(milestone["provider"]),
        "due_on": f"{due_on.day} {due_on:%B %Y}",
    }


async def _event(db: Database, event_id: int) -> Event | None:
    row = await db.fetch_one(sa.select(events).where(events.c.id == event_id))
    return event_from_row(row) if row is not None else None


@dataclass(frozen=True)
class OfferLine:
    """One offer as the choice round's messages show it: its terms, and once the round has
    closed how many chose it."""

    offer: Offer
    terms: list[Term]
    chosen: int


@dataclass(frozen=True)
class OwnChoice:
    """What a pledger's home (or the pledger) chose: an offer, or none of these (None)."""

    offer: Offer | None
    by_housemate: bool
    share_contact: bool


async def choice_context(
    db: Database, kind: str, campaign: Campaign, event_id: int | None, pledge_id: int | None
) -> dict[str, Any]:
    """The round, its offers in fair order and, for one pledger, their home's choice. The
    offers email lists the offers the round opened with (as they stand now: one withdrawn
    since says so); the result lists the offers that stand and any withdrawn one chosen."""
    current: ChoiceRound | None = await get_round(db, campaign.id)
    if current is None:
        raise LookupError(f"no choice round on campaign {campaign.id} for a {kind} message")
    found = await list_offers(db, campaign.id)
    if kind == "offers":
        event = await _event(db, event_id) if event_id is not None else None
        if event is None:
            raise LookupError(f"no choice_opened event {event_id} for an offers message")
        sent = {o.get("id") for o in event.payload.get("offers", []) if isinstance(o, dict)}
        shown = [o for o in found if o.public_id in sent]
    else:
        shown = [o for o in found if o.is_published or o.chosen_count]
    withdrawn: Offer | None = None
    if kind == "offer_withdrawn":
        event = await _event(db, event_id) if event_id is not None else None
        named = event.payload.get("offer") if event is not None else None
        withdrawn_id = named.get("id") if isinstance(named, dict) else None
        withdrawn = next((o for o in found if o.public_id == withdrawn_id), None)
        if withdrawn is None:
            raise LookupError(f"no withdrawn offer for event {event_id}")
        shown = [o for o in found if o.is_published]
    own: OwnChoice | None = None
    if pledge_id is not None:
        choice = await choice_for_pledge(db, pledge_id)
        if choice is not None:
            own = OwnChoice(
                offer=next((o for o in found if o.id == choice.offer_id), None),
                by_housemate=choice.pledge_id != pledge_id,
                share_contact=choice.share_contact,
            )
    return {
        "round": current,
        "closes": day(current.closes_at),
        "closed": day(current.closed_at or current.closes_at),
        "offers": [OfferLine(o, offer_terms(o), o.chosen_count) for o in shown],
        "none_count": current.none_count,
        "unit_count": lambda n: unit_count(campaign, n),
        "own": own,
        "no_fee": NO_FEE_STATEMENT,
        "withdrawn": withdrawn,
    }


def unit_count(campaign: Campaign, n: int) -> str:
    """How many chose: "1 household", "12 people"."""
    if campaign.counts_households:
        return f"{n:,} household" if n == 1 else f"{n:,} households"
    return f"{n:,} person" if n == 1 else f"{n:,} people"


class UnfoldedHeader(str):
    """A header sent on one line as written. Folded at 78 columns, a long List-Unsubscribe
    URL would be RFC 2047-encoded, which mail clients do not decode in that header."""

    name: str

    def __new__(cls, name: str, value: str) -> UnfoldedHeader:
        if not value.isascii() or "\r" in value or "\n" in value:
            raise ValueError(f"{name} must be one line of ASCII")
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


class MessageRenderer:
    def __init__(self, signer: Signer, base_url: str, mail_from: str) -> None:
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.mail_from = mail_from

    def links_for(self, pledge_id: int) -> dict[str, str]:
        return {
            "confirm": f"{self.base_url}/pledges/confirm?token="
            + self.signer.sign(pledge_id, "pledge-confirm"),
            "withdraw": f"{self.base_url}/pledges/withdraw?token="
            + self.signer.sign(pledge_id, "pledge-withdraw"),
            "unsubscribe": f"{self.base_url}/unsubscribe?token="
            + self.signer.sign(pledge_id, "unsubscribe"),
            "choose": f"{self.base_url}/choose?token="
            + self.signer.sign(pledge_id, "offer-choice"),
        }

    def money_links_for(self, pledge_id: int, campaign_slug: str) -> dict[str, str]:
        """A money pledge's own links: back to Checkout to save a card (the page there
        offers it again), and paying after a failed charge."""
        return {
            "card": f"{self.base_url}/c/{campaign_slug}/card-cancelled?token="
            + self.signer.sign(pledge_id, "pledge-card"),
            "pay": f"{self.base_url}/pay/" + self.signer.sign(pledge_id, "pledge-pay"),
        }

    async def render(
        self, db: Database, kind: str, pledge_id: int, *, event_id: int | None = None
    ) -> Rendered:
        """One pledger's copy of a message; an "update", a "response" and the payment emails
        also need the event that announced them (the outbox row's event_id)."""
        pledge = await get_pledge(db, pledge_id)
        campaign = await get_campaign_by_id(db, pledge.campaign_id)
        links = self.links_for(pledge.id)
        update: CampaignUpdate | None = None
        if kind == "update":
            update = await update_for_event(db, event_id) if event_id is not None else None
            if update is None:
                raise LookupError(f"no campaign update for event {event_id}")
        response: CampaignResponse | None = None
        if kind == "response":
            response = await response_for_event(db, event_id) if event_id is not None else None
            if response is None:
                raise LookupError(f"no response for event {event_id}")
        context = {
            "update": update,
            "response": response,
            "pledge": pledge,
            "campaign": campaign,
            "links": links,
            "campaign_url": f"{self.base_url}/c/{campaign.slug}",
            "base_url": self.base_url,
            "show_withdraw": kind not in NO_WITHDRAW_LINK,
        }
        if kind in CHOICE_KINDS:
            context.update(await choice_context(db, kind, campaign, event_id, pledge.id))
        if kind in DELIVERY_KINDS:
            event = await _event(db, event_id) if event_id is not None else None
            if event is None or not isinstance(event.payload.get("milestone"), dict):
                raise LookupError(f"no delivery event {event_id} for a {kind} email")
            context["milestone"] = milestone_words(event.payload["milestone"])
            links["served"] = f"{self.base_url}/choices/served?token=" + self.signer.sign(
                pledge.id, "offer-choice"
            )
        amount = ""
        if campaign.is_money:
            links.update(self.money_links_for(pledge.id, campaign.slug))
            payment = await self._payment_context(db, kind, pledge, campaign, event_id)
            amount = payment["amount"]
            context["payment"] = payment
        headers: dict[str, str] = {}
        if kind in UNSUBSCRIBABLE:
            headers["List-Unsubscribe"] = f"<{links['unsubscribe']}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        subject = SUBJECTS[kind].format(
            title=campaign.title,
            update_title=update.title if update else "",
            organisation=response.organisation_name if response else "",
            amount=amount,
        )
        if len(subject) > MAX_SUBJECT:  # the outbox keeps subjects of up to 300 characters
            subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
        return Rendered(
            subject=subject,
            text=_env.get_template(f"email/{kind}.txt").render(context),
            html=_env.get_template(f"email/{kind}.html").render(context),
            headers=headers,
        )

    async def _payment_context(
        self, db: Database, kind: str, pledge: Pledge, campaign: Campaign, event_id: int | None
    ) -> dict[str, str]:
        """What a money campaign's emails say about the money, as text ready to print."""
        context = {
            "amount": campaign.money(pledge.amount),
            "reached": _reached(campaign),
            "target": _target(campaign),
        }
        if kind not in PAYMENT_KINDS:
            return context
        event = await _event(db, event_id) if event_id is not None else None
        if event is None:
            raise LookupError(f"no payment event {event_id} for a {kind} email")
        if isinstance(event.payload.get("amount"), int):  # what was collected or refunded
            context["amount"] = campaign.money(event.payload["amount"])
        context["date"] = _day(event.created_at)
        # Who refunded: a lead, an administrator, Stripe, or the withdrawal that came first.
        context["by"] = str(event.payload.get("by") or "")
        context["days"] = str(GIVE_UP_AFTER.days)
        if kind in ("pay", "pay_reminder"):
            failed_at = (await payment_view(db, pledge.id)).charge_failed_at or event.created_at
            context["pay_by"] = _day(failed_at + GIVE_UP_AFTER)
            context["asked_days_ago"] = str(REMIND_AFTER.days)
            context["days_left"] = str((GIVE_UP_AFTER - REMIND_AFTER).days)
            error = str(event.payload.get("error") or "")
            context["reason"] = "confirm" if error in BANK_WANTS_CONFIRMATION else "declined"
        return context

    async def render_for_lead(
        self, db: Database, kind: str, campaign_id: int, *, event_id: int | None
    ) -> Rendered:
        """A message to a campaign's lead about a decision of the administrators' review:
        approved (open now, or stays open), or rejected with the reason and the note."""
        event = await _event(db, event_id) if event_id is not None else None
        decision_id = event.payload.get("decision_id") if event is not None else None
        decision = await get_decision(db, decision_id) if isinstance(decision_id, int) else None
        if decision is None:
            raise LookupError(f"no review decision for event {event_id}")
        campaign = await get_campaign_by_id(db, campaign_id)
        context = {
            "campaign": campaign,
            "decision": decision,
            "reason": REASONS_BY_CODE.get(decision.reason or ""),
            "campaign_url": f"{self.base_url}/c/{campaign.slug}",
            "dashboard_url": f"{self.base_url}/lead/campaigns/{campaign.slug}",
            "reasons_url": f"{self.base_url}/moderation",
            "base_url": self.base_url,
        }
        subject = LEAD_REVIEW_SUBJECTS[kind].format(title=campaign.title)
        if len(subject) > MAX_SUBJECT:
            subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
        return Rendered(
            subject=subject,
            text=_env.get_template(f"email/{kind}.txt").render(context),
            html=_env.get_template(f"email/{kind}.html").render(context),
            headers={},
        )

    def render_sign_in(self, purpose: str, link: str) -> Rendered:
        """A sign-in link: for a campaign lead, or for a resident's "my pledges"."""
        context = {"link": link, "base_url": self.base_url}
        return Rendered(
            subject=SIGN_IN_SUBJECTS[purpose],
            text=_env.get_template(f"email/sign_in_{purpose}.txt").render(context),
            html=_env.get_template(f"email/sign_in_{purpose}.html").render(context),
            headers={},
        )

    def render_lead_warning(self, warning: LeadWarning) -> Rendered:
        """An administrator's warning to a campaign's lead, after residents reported it."""
        context = {
            "warning": warning,
            "campaign_url": f"{self.base_url}/c/{warning.campaign_slug}",
            "base_url": self.base_url,
        }
        subject = f"A message from Groundswell about {warning.campaign_title}"
        if len(subject) > MAX_SUBJECT:
            subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
        return Rendered(
            subject=subject,
            text=_env.get_template("email/lead_warning.txt").render(context),
            html=_env.get_template("email/lead_warning.html").render(context),
            headers={},
        )

    def build(self, to_address: str, rendered: Rendered, dedupe_key: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = to_address
        message["Subject"] = rendered.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=dedupe_key.replace(":", "."))
        for name, value in rendered.headers.items():
            message[name] = UnfoldedHeader(name, value)
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        return message
