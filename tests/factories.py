"""Factories for test data, in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pledges.accounts import Lead, create_lead_api_key
from pledges.campaigns import Campaign, create_campaign
from pledges.pledging import record_pledge
from pledges.store import Store, utcnow

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
    return await create_campaign(store, lead.id, campaign_data(**overrides))


async def make_pending_pledges(store: Store, slug: str, count: int, start: int = 0) -> list[int]:
    ids = []
    for i in range(start, start + count):
        outcome = await record_pledge(store, slug, pledge_data(i))
        ids.append(outcome.pledge_id)
    return ids
