"""Factories for test data, in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from pledges.accounts import Lead, create_lead_api_key
from pledges.addresses import address_key, street_of
from pledges.campaigns import (
    Campaign,
    cancel_campaign,
    create_campaign,
    expire_due_campaigns,
    get_campaign,
    parse_campaign,
)
from pledges.identity import normalise_postcode, postcode_district
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
