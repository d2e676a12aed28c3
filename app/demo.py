"""Believable demo campaigns, so a new user sees Groundswell working at once."""

from __future__ import annotations

from datetime import timedelta

from pledges.accounts import create_lead_api_key
from pledges.campaigns import create_campaign, list_campaigns
from pledges.pledging import record_paper_pledge
from pledges.store import Store, utcnow

DEMO_LEAD = "lead@demo.groundswell.localhost"

CAMPAIGNS = [
    {
        "slug": "full-fibre-for-brudenell-road",
        "title": "Full fibre for Brudenell Road",
        "summary": "Gigabit broadband for the Brudenell streets: 60 households pledge and "
        "the provider builds.",
        "description": "Most of our street is stuck on copper at 20 Mbit/s while the next "
        "street over has full fibre.\n\nA provider has told us they will extend the network "
        "if 60 households show they would take a service. Pledging costs nothing: it only "
        "shows the demand is there.",
        "category": "broadband",
        "area": {"name": "Brudenell, Leeds", "postcode_districts": ["LS6"]},
        "target": 60,
        "days": 45,
        "paper": 41,
    },
    {
        "slug": "food-waste-bins-for-chapel-allerton",
        "title": "Food waste collection for Chapel Allerton",
        "summary": "Ask the council to start weekly food waste collection in LS7.",
        "description": "Food waste makes up a third of our black bins. A weekly caddy "
        "collection would cut landfill and smell.\n\nThe council will run a pilot where 150 "
        "households commit to using the caddies.",
        "category": "waste",
        "area": {"name": "Chapel Allerton, Leeds", "postcode_districts": ["LS7", "LS8"]},
        "target": 150,
        "days": 60,
        "paper": 38,
    },
    {
        "slug": "hyde-park-veg-box",
        "title": "A weekly veg box from Meanwood Valley Farm",
        "summary": "A local grower will deliver veg boxes to Hyde Park if 40 households sign up.",
        "description": "Meanwood Valley Farm delivers seasonal vegetables by cargo bike. "
        "They need 40 households on one round to make a new route pay.",
        "category": "supplier",
        "area": {"name": "Hyde Park, Leeds", "postcode_districts": ["LS6", "LS2"]},
        "target": 40,
        "days": 30,
        "paper": 12,
    },
]

NAMES = [
    "Amina Khan",
    "Tom Fletcher",
    "Grace Okafor",
    "Rhys Jones",
    "Priya Patel",
    "Sam Wood",
    "Chloe Brown",
    "Daniel Lee",
    "Fatima Ali",
    "Jack Taylor",
    "Olivia Smith",
    "Ben Walker",
]


async def seed_demo(store: Store) -> bool:
    """Seed once: returns False when campaigns already exist."""
    if await list_campaigns(store.database, include_drafts=True, include_hidden=True, limit=1):
        return False
    lead, _ = await create_lead_api_key(store, DEMO_LEAD)
    for spec in CAMPAIGNS:
        data = {k: v for k, v in spec.items() if k not in ("days", "paper")}
        data["deadline"] = (utcnow() + timedelta(days=int(spec["days"]))).isoformat()  # type: ignore[call-overload]
        campaign = await create_campaign(store, lead.id, data)
        for i in range(int(spec["paper"])):  # type: ignore[call-overload]
            name = NAMES[i % len(NAMES)]
            district = campaign.postcode_districts[i % len(campaign.postcode_districts)]
            await record_paper_pledge(
                store,
                campaign.slug,
                lead.id,
                {
                    "name": name,
                    "email": f"{name.split()[0].lower()}.{i}@demo.groundswell.localhost",
                    "postcode": f"{district} {1 + i % 9}AB",
                    "show_name": i % 3 == 0,
                },
            )
    return True
