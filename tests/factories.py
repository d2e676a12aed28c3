"""Factories for test data, in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from notifications.endpoints import create_endpoint, parse_endpoint
from pledges.accounts import Lead, Organisation, create_lead_api_key, create_organisation_api_key
from pledges.addresses import address_key, street_of
from pledges.campaigns import (
    Campaign,
    cancel_campaign,
    create_campaign,
    expire_due_campaigns,
    get_campaign,
    parse_campaign,
)
from pledges.choices import NONE_OF_THESE, ChoiceInput, choose, close_round, open_round
from pledges.contact_downloads import approve_organisation
from pledges.identity import normalise_postcode, postcode_district
from pledges.offers import Offer, parse_offer, post_offer
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store, utcnow
from pledges.tables import campaigns, premises

_counter = 0


def campaign_data(**overrides: Any) -> dict[str, Any]:
    global _counter
    _counter += 1
    data: dict[str, Any] = {
        "slug": f"fibre-for-street-{_counter}",
        "title": f"Full fibre for street {_counter}",
        "summary": "Gigabit broadband for our street.",
        "description": "We need it.",
        "category": "broadband",
        "area": {"name": "Headingley", "postcode_districts": ["LS6", "LS16"]},
        "target": 10,
        "deadline": (utcnow() + timedelta(days=30)).isoformat(),
    }
    data.update(overrides)
    return data


def pledge_data(i: int = 0, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"Resident {i}",
        "email": f"resident{i}@example.org",
        "postcode": "LS6 1AB",
        "show_name": False,
        "share_contact": False,
    }
    data.update(overrides)
    return data


async def make_lead(store: Store, email: str = "lead@example.org") -> tuple[Lead, str]:
    return await create_lead_api_key(store, email)


async def make_campaign(store: Store, lead: Lead | None = None, **overrides: Any) -> Campaign:
    if lead is None:
        lead, _ = await make_lead(store)
    return await create_campaign(store, lead.id, parse_campaign(campaign_data(**overrides)))


async def make_pending_pledges(store: Store, slug: str, count: int, start: int = 0) -> list[int]:
    ids = []
    for i in range(start, start + count):
        outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i)))
        ids.append(outcome.pledge_id)
    return ids


async def make_confirmed_pledge(store: Store, slug: str, i: int = 0, **overrides: Any) -> int:
    outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i, **overrides)))
    await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


async def make_cancelled_campaign(store: Store, **overrides: Any) -> Campaign:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, **overrides)
    return await cancel_campaign(store, campaign.slug, lead.id)


async def make_expired_campaign(store: Store, **overrides: Any) -> Campaign:
    """A campaign whose deadline has passed, expired as the worker would expire it."""
    overrides.setdefault("deadline", (utcnow() + timedelta(hours=1)).isoformat())
    campaign = await make_campaign(store, **overrides)
    await expire_due_campaigns(store, now=campaign.deadline + timedelta(seconds=1))
    return await get_campaign(store.database, campaign.slug)


async def add_premises(store: Store, campaign_id: int, addresses: list[tuple[str, str]]) -> None:
    """Put (address line, postcode) rows on a campaign's premises list, as the lead's
    upload would, and set the campaign's count of listed premises."""
    now = utcnow()
    rows = []
    for line, raw_postcode in addresses:
        postcode = normalise_postcode(raw_postcode)
        assert postcode is not None, raw_postcode
        rows.append(
            {
                "campaign_id": campaign_id,
                "address_line": line,
                "postcode": postcode,
                "district": postcode_district(postcode),
                "street": street_of(line),
                "address_key": address_key(line),
                "created_at": now,
            }
        )
    async with store.write() as db:
        await db.execute(sa.insert(premises).values(rows))
        listed = await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(premises)
            .where(premises.c.campaign_id == campaign_id)
        )
        await db.execute(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(premises_listed=int(listed))
        )


# ----- the delivery record: a campaign whose residents chose between offers -----------


def offer_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Full fibre 900",
        "description": "900 Mb/s both ways.",
        "price": 3000,
        "period": "month",
        "social_tariff": {"price": 1500, "who_qualifies": "Households on Universal Credit."},
    }
    data.update(overrides)
    return data


@dataclass
class Delivered:
    """A tipped campaign whose choice round closed: `provider`'s offer chosen by the pledges
    `choosers`, `rival`'s (its endpoints cover the campaign too) by nobody unless a test
    chose it before the close, and one pledge that chose "none of these"."""

    campaign: Campaign
    provider: Organisation
    provider_key: str
    rival: Organisation
    rival_key: str
    offer: Offer
    rival_offer: Offer
    choosers: list[int]
    chose_none: int

    @property
    def offer_id(self) -> int:
        return self.offer.id


async def covering_provider(store: Store, name: str) -> tuple[Organisation, str]:
    """A provider with an active endpoint covering LS broadband campaigns (it asks only for
    test messages, so no webhook goes anywhere)."""
    org, key = await create_organisation_api_key(
        store, f"ops@{name.lower()}.example", name, "provider"
    )
    spec = await parse_endpoint(
        {
            "url": "http://127.0.0.1:9/hooks",
            "event_types": ["webhook.test"],
            "filters": {"categories": ["broadband"], "postcode_prefixes": ["LS"]},
        },
        partial=False,
        allow_private=True,
    )
    await create_endpoint(store, org.id, spec)
    return org, key


async def choose_offer(store: Store, pledge_id: int, offer: Offer | None) -> None:
    """The pledge's home chooses `offer` (None: none of these) while the round is open."""
    await choose(
        store, pledge_id, ChoiceInput(offer.public_id if offer else NONE_OF_THESE, False, None)
    )


async def make_delivered_campaign(
    store: Store,
    choosers: int = 3,
    *,
    closed: bool = True,
    before_close: Callable[[Delivered], Awaitable[None]] | None = None,
    **overrides: Any,
) -> Delivered:
    """Through the domain: a campaign tips, two providers post offers, the round opens,
    `choosers` pledges choose the first provider's offer and one more none of these,
    `before_close` runs, and the round closes (unless `closed` is False)."""
    overrides.setdefault("target", 2)
    campaign = await make_campaign(store, **overrides)
    pledge_ids = [await make_confirmed_pledge(store, campaign.slug, i) for i in range(choosers + 1)]
    campaign = await get_campaign(store.database, campaign.slug)
    assert campaign.status == "tipped"
    provider, provider_key = await covering_provider(store, f"FibreCo{campaign.id}")
    rival, rival_key = await covering_provider(store, f"CableCo{campaign.id}")
    offer = await post_offer(store, campaign, provider.id, parse_offer(offer_data()))
    rival_offer = await post_offer(
        store, campaign, rival.id, parse_offer(offer_data(title="Cable 500"))
    )
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    for pledge_id in pledge_ids[:choosers]:
        await choose_offer(store, pledge_id, offer)
    await choose_offer(store, pledge_ids[-1], None)
    delivered = Delivered(
        campaign,
        provider,
        provider_key,
        rival,
        rival_key,
        offer,
        rival_offer,
        pledge_ids[:choosers],
        pledge_ids[-1],
    )
    if before_close is not None:
        await before_close(delivered)
    if closed:
        assert await close_round(store, campaign.id)
    return delivered


async def approve(store: Store, organisation_id: int) -> None:
    """As an administrator does at /admin/organisations: the organisation may then download
    the contacts its endpoints name."""
    async with store.write() as db:
        await approve_organisation(db, organisation_id, None)
