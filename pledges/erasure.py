"""A resident's own pledges: what we hold about them (shown on "my pledges" and offered as
a download), and erasing it when they ask.

Erasure keeps every count exact. Each pending or confirmed pledge is first withdrawn just
as withdraw_pledge withdraws it (the count falls by one for a confirmed pledge; a tipped
campaign stays tipped), then its personal data is replaced in place. The row stays, so
counts, events and the district breakdown that campaigns report still add up; it keeps
only the postcode district, which on its own identifies no one.

A choice between providers' offers is part of the pledge: an open round's is taken back
with the withdrawal (pledges.choices.drop_choices); a closed round's keeps the offer chosen,
one of the results reported, but loses its private answers (the social-tariff need and
the consent to be contacted), while the round's totals stay as they were reported.

The same transaction erases the copies in the email outbox, through the ScrubMail the
caller passes (the outbox is notifications'): messages not yet sent are deleted, so none
goes out; sent ones keep their row (kind, status, times) without address, subject or text.
Sign-in links for "my pledges" go too, found by address, and so do the address, client
address and words of the reports they made (pledges.reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.anonymity import ScrubMail, blank_pledges, forget_households
from pledges.campaigns import get_campaign
from pledges.counting import withdraw_in_transaction
from pledges.errors import NotCampaignLead, PledgeNotFound
from pledges.identity import address_domains, canonical_email
from pledges.journal import record_event
from pledges.reports import erase_reporter
from pledges.store import Store, aware, utcnow
from pledges.tables import campaigns, choices, magic_links, offers, organisations, pledges

# The largest id either database stores; a bigger number in a URL is no pledge of anyone's.
MAX_ID = 2**63 - 1


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ResidentChoice:
    """The choice between providers' offers that counts for a pledge: its own, or on a
    campaign that counts homes, its home's, which another of the home's pledgers may have
    made (their private answers are then theirs, not shown)."""

    offer_public_id: str | None  # None: "none of these"
    offer_title: str | None
    provider: str | None
    by_you: bool
    needs_social_tariff: bool | None  # None when another pledger from the home chose
    share_contact: bool | None
    chosen_at: datetime  # when last made or changed
    service_confirmed_at: datetime | None

    def personal_data(self) -> dict[str, Any]:
        return {
            "offer": (
                {"id": self.offer_public_id, "title": self.offer_title, "provider": self.provider}
                if self.offer_public_id
                else None
            ),
            "none_of_these": self.offer_public_id is None,
            "chosen_by": "you" if self.by_you else "another pledger from your home",
            "needs_social_tariff": self.needs_social_tariff,
            "share_contact_with_chosen_provider": self.share_contact,
            "chosen_at": _when(self.chosen_at),
            "service_confirmed_at": _when(self.service_confirmed_at),
        }


@dataclass(frozen=True)
class ResidentPledge:
    """One pledge as its resident sees it: everything stored about them, and the campaign."""

    id: int
    campaign_slug: str
    campaign_title: str
    campaign_status: str
    campaign_hidden: bool
    name: str
    email: str
    postcode: str
    district: str
    show_name: bool
    share_contact: bool
    source: str
    status: str
    ip: str | None
    address_line: str | None
    phone: str | None
    # The most they would pay (minor units of the campaign's price currency; None: not sure
    # or not asked), and how firm their pledge is.
    max_price: int | None
    firmness: str
    # The campaign's price question (currency, period), when it asks one.
    price_currency: str | None
    price_period: str | None
    created_at: datetime
    confirmed_at: datetime | None
    withdrawn_at: datetime | None
    unsubscribed_at: datetime | None
    invalidated_at: datetime | None
    # After the campaign tipped and its providers made offers: what was chosen.
    choice: ResidentChoice | None = None

    @property
    def can_withdraw(self) -> bool:
        return self.status in ("pending", "confirmed")

    def personal_data(self) -> dict[str, Any]:
        """What a resident's download holds for this pledge (times as ISO 8601, UTC)."""
        when = _when
        return {
            "pledge_id": self.id,
            "campaign": {"slug": self.campaign_slug, "title": self.campaign_title},
            "name": self.name,
            "email": self.email,
            "postcode": self.postcode,
            "postcode_district": self.district,
            "address_line": self.address_line,
            "phone": self.phone,
            "most_you_would_pay": self.max_price,
            "price_question": (
                {"currency": self.price_currency, "period": self.price_period}
                if self.price_currency
                else None
            ),
            "firmness": self.firmness,
            "show_name_on_campaign_page": self.show_name,
            "share_contact_with_providers": self.share_contact,
            "source": self.source,
            "status": self.status,
            "ip_address": self.ip,
            "pledged_at": when(self.created_at),
            "confirmed_at": when(self.confirmed_at),
            "withdrawn_at": when(self.withdrawn_at),
            "unsubscribed_at": when(self.unsubscribed_at),
            "invalidated_at": when(self.invalidated_at),
            "choice": self.choice.personal_data() if self.choice else None,
        }


def _resident_query() -> sa.Select[Any]:
    return (
        sa.select(
            pledges,
            campaigns.c.slug.label("campaign_slug"),
            campaigns.c.title.label("campaign_title"),
            campaigns.c.status.label("campaign_status"),
            campaigns.c.hidden_at.label("campaign_hidden_at"),
            campaigns.c.price_currency.label("campaign_price_currency"),
            campaigns.c.price_period.label("campaign_price_period"),
            campaigns.c.counts.label("campaign_counts"),
        )
        .join(campaigns, campaigns.c.id == pledges.c.campaign_id)
        .where(pledges.c.anonymised_at.is_(None))
    )


def _unit_key(row: Any) -> str:
    """As pledges.choices keys a choice: the home on a campaign counting homes."""
    if row["campaign_counts"] == "households" and row["household_id"] is not None:
        return f"h{row['household_id']}"
    return f"p{row['id']}"


async def _choices_of(db: Database, rows: list[Any]) -> dict[int, ResidentChoice]:
    """The choice that counts for each of these pledges (by pledge id), if any: its own,
    or its home's while the pledge still counts in that home."""
    if not rows:
        return {}
    keys = {(r["campaign_id"], _unit_key(r)) for r in rows}
    found = await db.fetch_all(
        sa.select(
            choices,
            offers.c.public_id.label("offer_public_id"),
            offers.c.title.label("offer_title"),
            organisations.c.name.label("provider"),
        )
        .select_from(
            choices.outerjoin(offers, offers.c.id == choices.c.offer_id).outerjoin(
                organisations, organisations.c.id == offers.c.organisation_id
            )
        )
        .where(
            choices.c.campaign_id.in_(sorted({c for c, _ in keys})),
            choices.c.unit_key.in_(sorted({k for _, k in keys})),
        )
    )
    by_unit = {(c["campaign_id"], c["unit_key"]): c for c in found}
    result: dict[int, ResidentChoice] = {}
    for row in rows:
        chosen = by_unit.get((row["campaign_id"], _unit_key(row)))
        if chosen is None:
            continue
        by_you = chosen["pledge_id"] == row["id"]
        if not by_you and row["status"] != "confirmed":
            continue  # a home's choice is shared with those who still count in it
        result[row["id"]] = ResidentChoice(
            offer_public_id=chosen["offer_public_id"],
            offer_title=chosen["offer_title"],
            provider=chosen["provider"],
            by_you=by_you,
            needs_social_tariff=bool(chosen["needs_social_tariff"]) if by_you else None,
            share_contact=bool(chosen["share_contact"]) if by_you else None,
            chosen_at=aware(chosen["updated_at"]),  # type: ignore[arg-type]
            service_confirmed_at=aware(chosen["service_confirmed_at"]),
        )
    return result


def _from_row(row: Any, choice: ResidentChoice | None = None) -> ResidentPledge:
    return ResidentPledge(
        id=row["id"],
        campaign_slug=row["campaign_slug"],
        campaign_title=row["campaign_title"],
        campaign_status=row["campaign_status"],
        campaign_hidden=row["campaign_hidden_at"] is not None,
        name=row["name"],
        email=row["email"],
        postcode=row["postcode"],
        district=row["district"],
        show_name=bool(row["show_name"]),
        share_contact=bool(row["share_contact"]),
        source=row["source"],
        status=row["status"],
        ip=row["ip"],
        address_line=row["address_line"],
        phone=row["phone"],
        max_price=row["max_price"],
        firmness=row["firmness"],
        price_currency=row["campaign_price_currency"],
        price_period=row["campaign_price_period"],
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
        confirmed_at=aware(row["confirmed_at"]),
        withdrawn_at=aware(row["withdrawn_at"]),
        unsubscribed_at=aware(row["unsubscribed_at"]),
        invalidated_at=aware(row["invalidated_at"]),
        choice=choice,
    )


async def resident_pledges(db: Database, email_canonical: str) -> list[ResidentPledge]:
    """Every pledge made with this (canonical) address and not anonymised, newest first."""
    rows = await db.fetch_all(
        _resident_query()
        .where(pledges.c.email_canonical == email_canonical)
        .order_by(pledges.c.created_at.desc(), pledges.c.id.desc())
    )
    chosen = await _choices_of(db, list(rows))
    return [_from_row(r, chosen.get(r["id"])) for r in rows]


async def resident_pledge(db: Database, email_canonical: str, pledge_id: int) -> ResidentPledge:
    """One of this resident's pledges; PledgeNotFound for anyone else's, or none at all."""
    if not 0 < pledge_id <= MAX_ID:
        raise PledgeNotFound(str(pledge_id))
    row = await db.fetch_one(
        _resident_query().where(
            pledges.c.id == pledge_id, pledges.c.email_canonical == email_canonical
        )
    )
    if row is None:
        raise PledgeNotFound(str(pledge_id))
    return _from_row(row, (await _choices_of(db, [row])).get(pledge_id))


async def _forget_sign_in_links(db: Database, email_canonical: str) -> None:
    """The resident's sign-in links record the address as typed: any form of it goes."""
    rows = await db.fetch_all(
        sa.select(magic_links.c.nonce_hash, magic_links.c.email).where(
            magic_links.c.purpose == "resident",
            sa.or_(
                *(
                    magic_links.c.email.endswith(f"@{d}", autoescape=True)
                    for d in address_domains(email_canonical)
                )
            ),
        )
    )
    mine = [r["nonce_hash"] for r in rows if canonical_email(r["email"]) == email_canonical]
    if mine:
        await db.execute(sa.delete(magic_links).where(magic_links.c.nonce_hash.in_(mine)))


async def erase_resident(store: Store, email_canonical: str, *, scrub_mail: ScrubMail) -> int:
    """Withdraw and anonymise every pledge made with this canonical address, and erase the
    emails and sign-in links sent to it, in one transaction; returns how many pledges were
    erased (0 when none was left). Each gets a "pledge.erased" event carrying its id only.
    `scrub_mail` erases the outbox's copies (notifications.outbox.scrub_pledge_mail)."""
    async with store.write() as db:
        # FOR UPDATE (PostgreSQL; SQLite has one writer): a confirmation in flight commits
        # first and is then withdrawn with the rest. Without the lock, each of withdrawal's
        # guarded UPDATEs could miss a pledge moving from pending to confirmed.
        ids = [
            r["id"]
            for r in await db.fetch_all(
                sa.select(pledges.c.id)
                .where(
                    pledges.c.email_canonical == email_canonical,
                    pledges.c.anonymised_at.is_(None),
                )
                .order_by(pledges.c.id)
                .with_for_update()
            )
        ]
        for pledge_id in ids:
            await withdraw_in_transaction(db, pledge_id)
        erased = await blank_pledges(db, ids, "erased", utcnow())
        await forget_households(db, ids, "erased")
        for row in sorted(erased, key=lambda r: r["id"]):
            await record_event(db, "pledge.erased", row["campaign_id"], {"pledge_id": row["id"]})
        erased_ids = sorted(r["id"] for r in erased)
        await _forget_sign_in_links(db, email_canonical)
        await erase_reporter(db, email_canonical)
        await scrub_mail(db, erased_ids, "erased", resident=email_canonical)
    return len(erased_ids)


async def resident_has_pledges(db: Database, email: str) -> bool:
    """Whether any pledge not anonymised was made with this address, in any of its forms."""
    found = await db.fetch_val(
        sa.select(pledges.c.id)
        .where(
            pledges.c.email_canonical == canonical_email(email), pledges.c.anonymised_at.is_(None)
        )
        .limit(1)
    )
    return found is not None


@dataclass(frozen=True)
class RecordedPledge:
    """A pledge a lead recorded for someone without an email address, as the lead sees it."""

    id: int
    name: str
    address_line: str | None
    postcode: str
    status: str


async def pledges_without_email(db: Database, campaign_id: int) -> list[RecordedPledge]:
    """The campaign's pledges recorded without email and not erased or anonymised: the
    ones only their lead can erase, since their resident cannot sign in to do it."""
    rows = await db.fetch_all(
        sa.select(
            pledges.c.id,
            pledges.c.name,
            pledges.c.address_line,
            pledges.c.postcode,
            pledges.c.status,
        )
        .where(
            pledges.c.campaign_id == campaign_id,
            pledges.c.email_canonical.is_(None),
            pledges.c.anonymised_at.is_(None),
        )
        .order_by(pledges.c.postcode, pledges.c.id)
    )
    return [
        RecordedPledge(r["id"], r["name"], r["address_line"], r["postcode"], r["status"])
        for r in rows
    ]


async def erase_pledge_without_email(
    store: Store, slug: str, lead_id: int, pledge_id: int, *, scrub_mail: ScrubMail
) -> bool:
    """The campaign's lead erases, at the resident's request, a pledge recorded for them
    without an email address (they have no other way to ask): withdrawn as erase_resident
    withdraws (another pledge from the home takes its place), then blanked, in one
    transaction. False when there is no such pledge left to erase."""
    if not 0 < pledge_id <= MAX_ID:
        return False
    async with store.write() as db:
        campaign = await get_campaign(db, slug)
        if campaign.lead_id != lead_id:
            raise NotCampaignLead(slug)
        found = await db.fetch_val(
            sa.select(pledges.c.id)
            .where(
                pledges.c.id == pledge_id,
                pledges.c.campaign_id == campaign.id,
                pledges.c.email_canonical.is_(None),
                pledges.c.anonymised_at.is_(None),
            )
            .with_for_update()
        )
        if found is None:
            return False
        await withdraw_in_transaction(db, pledge_id)
        erased = await blank_pledges(db, [pledge_id], "erased", utcnow())
        await forget_households(db, [pledge_id], "erased")
        for row in erased:
            await record_event(db, "pledge.erased", row["campaign_id"], {"pledge_id": row["id"]})
        await scrub_mail(db, [pledge_id], "erased")
    return bool(erased)
