"""What providers and councils see of demand, and who may download a campaign's contacts.

The demand view lists the open and tipped campaigns an organisation's webhook endpoints
cover, closest to (or furthest past) their target first, with confirmed pledges counted by
postcode district and, for money campaigns, the money pledged and collected; a campaign
that counts households adds its households, premises and coverage, by verification level
and by district (counts only: an address reaches a provider only in the contacts). The contacts
rule is the one place that decides whether an organisation may have the names and emails
of a tipped campaign's consenting pledgers; the JSON API and the CSV download both call it.
It asks three things: an administrator approved the organisation; the campaign tipped; and
one of its active endpoints receives the campaign's tipping with filters that name the
campaign's category and one of its areas (empty filters receive events, never contacts).
Every download is recorded (pledges.contact_downloads).

This lives in notifications, not pledges: an organisation's scope is defined by its
webhook endpoints' filters, and pledges never imports notifications.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from databases import Database

from notifications.endpoints import Endpoint, list_endpoints, prefix_covers
from pledges.campaigns import (
    CATEGORIES,
    UNPUBLISHED,
    Campaign,
    get_campaign,
    load_campaigns,
)
from pledges.contact_downloads import (
    NOT_APPROVED,
    organisation_is_approved,
    record_contact_download,
)
from pledges.counting import household_breakdown
from pledges.errors import CampaignNotFound, DomainError, FieldError, ValidationFailed
from pledges.identity import district_of
from pledges.store import Store, aware
from pledges.tables import campaign_districts, campaigns, pledges

DEMAND_STATUSES = ("open", "tipped")
# More than this and the page asks for a narrower filter rather than growing without end.
DEMAND_LIMIT = 200
_AREA = re.compile(r"^[A-Z]{1,2}$")


class ContactsRefused(DomainError):
    """The organisation may not download this campaign's contacts; says why, in words."""

    code = "refused"


class CampaignNotTipped(ContactsRefused):
    code = "not_tipped"

    def __init__(self) -> None:
        super().__init__("Contacts are shared only once a campaign has tipped.")


class NotReceivingCampaign(ContactsRefused):
    code = "not_receiving"

    def __init__(self) -> None:
        super().__init__("None of your webhook endpoints receives this campaign's events.")


class OrganisationNotApproved(ContactsRefused):
    code = "not_approved"

    def __init__(self) -> None:
        super().__init__(NOT_APPROVED)


class FiltersDoNotNameCampaign(ContactsRefused):
    code = "filters_do_not_name_campaign"

    def __init__(self, campaign: Campaign) -> None:
        areas = ", ".join(campaign.postcode_districts) or "its area"
        super().__init__(
            "Contacts go only to an organisation with an active endpoint whose filters name "
            f"this campaign's category ({campaign.category}) and its area (a postcode prefix "
            f"covering one of {areas}). An endpoint with empty filters receives events, "
            "never contacts."
        )


@dataclass(frozen=True)
class DemandFilter:
    """What an organisation asked to see: narrower by category or postcode prefix, or
    wider than its endpoints' coverage with `everywhere`."""

    category: str | None = None
    postcode_prefix: str | None = None
    everywhere: bool = False


def parse_demand_filter(category: str, postcode_prefix: str, everywhere: bool) -> DemandFilter:
    """The filter from the form's text; every problem at once, by field."""
    errors: list[FieldError] = []
    category = category.strip()
    if category and category not in CATEGORIES:
        errors.append(
            FieldError(
                "category",
                "not_in_choices",
                "Choose a category from the list.",
                {"choices": CATEGORIES},
            )
        )
    prefix = re.sub(r"\s+", "", postcode_prefix).upper()
    if prefix and not _AREA.match(prefix):
        # A district, or a full postcode standing for its district.
        district = district_of(prefix) if len(prefix) <= 8 else None
        if district is None:
            errors.append(
                FieldError(
                    "postcode_prefix",
                    "not_a_postcode_prefix",
                    "Enter a postcode area, like LS, a district, like LS6, or a full postcode.",
                )
            )
        prefix = district or ""
    if errors:
        raise ValidationFailed(errors)
    return DemandFilter(category or None, prefix or None, everywhere)


@dataclass(frozen=True)
class Contact:
    name: str
    email: str | None  # None: a pledge the lead recorded for someone without email
    # The first line of the address, when the pledger gave one (households campaigns).
    address_line: str | None
    postcode: str
    district: str
    confirmed_at: datetime | None


@dataclass(frozen=True)
class CampaignDemand:
    campaign: Campaign
    # Confirmed pledges by postcode district, most first.
    by_district: tuple[tuple[str, int], ...]
    # None when the organisation may download the contacts; otherwise why not.
    contacts_refused: str | None
    # A households campaign's counted homes (pledges.counting.household_breakdown), else None.
    households: dict[str, Any] | None = None
    # Which rule refused the contacts (ContactsRefused.code), when one did.
    contacts_refusal_code: str | None = None

    @property
    def percent(self) -> int:
        """Percent of target, not capped at 100: demand past the target is worth seeing."""
        return int(progress_towards_target(self.campaign) * 100)


def progress_towards_target(campaign: Campaign) -> Fraction:
    """How far towards its target, uncapped: the lesser of the count's and the money's
    progress, as a campaign tips only when it reaches every target it has."""
    parts = []
    tally = campaign.tally  # households, or covered homes, on a campaign that counts them
    if tally.goal:
        parts.append(Fraction(tally.units, tally.goal))
    if campaign.money_target:
        parts.append(Fraction(campaign.pledged_amount, campaign.money_target))
    return min(parts) if parts else Fraction(0)


@dataclass(frozen=True)
class Demand:
    campaigns: list[CampaignDemand]
    # The organisation's active endpoints; the list is limited to what they cover unless
    # there are none or the organisation asked to see everywhere.
    active_endpoints: list[Endpoint]
    endpoint_count: int
    scoped: bool
    # More campaigns matched than DEMAND_LIMIT; the rest are left off.
    truncated: bool


def endpoint_covers(endpoint: Endpoint, campaign: Campaign) -> bool:
    """Whether the endpoint's filters (categories, postcode prefixes, campaigns) take in
    this campaign, whichever event types it subscribes to."""
    return dataclasses.replace(endpoint, event_types=()).wants(
        "campaign.opened", campaign.public_payload()
    )


def names_campaign(endpoint: Endpoint, campaign: Campaign) -> bool:
    """Whether the endpoint's filters name the campaign's category and one of its areas:
    an empty filter takes in everything, which is not naming it."""
    categories = endpoint.filters.get("categories") or []
    prefixes = endpoint.filters.get("postcode_prefixes") or []
    return campaign.category in categories and any(
        prefix_covers(p, d) for p in prefixes for d in campaign.postcode_districts
    )


def check_contacts_allowed(
    campaign: Campaign, endpoints: Sequence[Endpoint], *, approved: bool
) -> None:
    """The contacts rule: only for an organisation an administrator approved, only after
    tipping, and only through an active endpoint that receives this campaign's tipping
    with filters that name its category and area."""
    if not approved:
        raise OrganisationNotApproved()
    if campaign.status != "tipped":
        raise CampaignNotTipped()
    payload = campaign.public_payload()
    receiving = [
        e for e in endpoints if e.status == "active" and e.wants("campaign.tipped", payload)
    ]
    if not receiving:
        raise NotReceivingCampaign()
    if not any(names_campaign(e, campaign) for e in receiving):
        raise FiltersDoNotNameCampaign(campaign)


def _contacts_refusal(
    campaign: Campaign, endpoints: Sequence[Endpoint], approved: bool
) -> ContactsRefused | None:
    try:
        check_contacts_allowed(campaign, endpoints, approved=approved)
    except ContactsRefused as exc:
        return exc
    return None


def _campaign_demand(
    campaign: Campaign,
    by_district: tuple[tuple[str, int], ...],
    refused: ContactsRefused | None,
    households: dict[str, Any] | None,
) -> CampaignDemand:
    return CampaignDemand(
        campaign,
        by_district,
        None if refused is None else str(refused),
        households,
        None if refused is None else refused.code,
    )


def _matches_prefix(campaign: Campaign, prefix: str) -> bool:
    return any(prefix_covers(prefix, d) for d in campaign.postcode_districts)


async def confirmed_by_district(
    db: Database, campaign_ids: Sequence[int]
) -> dict[int, tuple[tuple[str, int], ...]]:
    """Confirmed pledges per postcode district of each campaign, most first."""
    found: dict[int, list[tuple[str, int]]] = {i: [] for i in campaign_ids}
    if campaign_ids:
        rows = await db.fetch_all(
            sa.select(pledges.c.campaign_id, pledges.c.district, sa.func.count().label("n"))
            .where(pledges.c.campaign_id.in_(list(campaign_ids)), pledges.c.status == "confirmed")
            .group_by(pledges.c.campaign_id, pledges.c.district)
        )
        for r in rows:
            found[r["campaign_id"]].append((r["district"], int(r["n"])))
    return {i: tuple(sorted(d, key=lambda x: (-x[1], x[0]))) for i, d in found.items()}


async def organisation_demand(
    db: Database, organisation_id: int, wanted: DemandFilter, *, limit: int = DEMAND_LIMIT
) -> Demand:
    """Open and tipped, unhidden campaigns in the organisation's areas and categories (or
    everywhere), by progress towards target, highest first."""
    endpoints = await list_endpoints(db, organisation_id)
    active = [e for e in endpoints if e.status == "active"]
    scoped = bool(active) and not wanted.everywhere

    query = sa.select(campaigns).where(
        campaigns.c.status.in_(DEMAND_STATUSES), campaigns.c.hidden_at.is_(None)
    )
    if wanted.category:
        query = query.where(campaigns.c.category == wanted.category)
    if wanted.postcode_prefix:
        # Narrowed in SQL to districts starting with the prefix; prefix_covers then tells
        # LS6 from LS60 and L1 from LS1.
        query = query.where(
            campaigns.c.id.in_(
                sa.select(campaign_districts.c.campaign_id).where(
                    campaign_districts.c.district.like(f"{wanted.postcode_prefix}%")
                )
            )
        )
    found = await load_campaigns(db, query)
    if wanted.postcode_prefix:
        found = [c for c in found if _matches_prefix(c, wanted.postcode_prefix)]
    if scoped:
        found = [c for c in found if any(endpoint_covers(e, c) for e in active)]
    found.sort(key=lambda c: (-progress_towards_target(c), c.deadline, c.id))
    truncated = len(found) > limit
    found = found[:limit]

    breakdown = await confirmed_by_district(db, [c.id for c in found])
    homes = {c.id: await household_breakdown(db, c) for c in found if c.counts_households}
    approved = await organisation_is_approved(db, organisation_id)
    return Demand(
        campaigns=[
            _campaign_demand(
                c, breakdown[c.id], _contacts_refusal(c, active, approved), homes.get(c.id)
            )
            for c in found
        ],
        active_endpoints=active,
        endpoint_count=len(endpoints),
        scoped=scoped,
        truncated=truncated,
    )


async def public_campaign(db: Database, slug: str) -> Campaign:
    """A campaign anyone may see: drafts and hidden campaigns are as good as absent."""
    campaign = await get_campaign(db, slug)
    hidden_at = await db.fetch_val(
        sa.select(campaigns.c.hidden_at).where(campaigns.c.id == campaign.id)
    )
    if campaign.status in UNPUBLISHED or hidden_at is not None:
        raise CampaignNotFound(slug)
    return campaign


async def campaign_contacts(
    store: Store, organisation_id: int, slug: str, *, via: str
) -> tuple[Campaign, list[Contact]]:
    """The confirmed pledgers of a tipped campaign who agreed to be contacted, for an
    organisation the contacts rule allows, recorded as one download (`via` api or csv) in
    the same transaction as it is read; raises CampaignNotFound or ContactsRefused."""
    campaign = await public_campaign(store.database, slug)
    async with store.write() as db:
        check_contacts_allowed(
            campaign,
            await list_endpoints(db, organisation_id),
            approved=await organisation_is_approved(db, organisation_id),
        )
        rows = await db.fetch_all(
            sa.select(
                pledges.c.id,
                pledges.c.name,
                pledges.c.email,
                pledges.c.address_line,
                pledges.c.postcode,
                pledges.c.district,
                pledges.c.confirmed_at,
            )
            .where(
                pledges.c.campaign_id == campaign.id,
                pledges.c.status == "confirmed",
                pledges.c.share_contact.is_(True),
                # Anonymised pledges keep counting but have no one left to contact.
                pledges.c.anonymised_at.is_(None),
            )
            .order_by(pledges.c.id)
        )
        await record_contact_download(
            db, organisation_id, campaign.id, [r["id"] for r in rows], via
        )
    return campaign, [
        Contact(
            name=r["name"],
            email=r["email"],
            address_line=r["address_line"],
            postcode=r["postcode"],
            district=r["district"],
            confirmed_at=aware(r["confirmed_at"]),
        )
        for r in rows
    ]
