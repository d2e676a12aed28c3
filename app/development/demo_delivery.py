"""The demo after the choice: answers and a delivery record.

Leeds City Council follows every campaign in LS6 through an endpoint at this app's
/dev/webhooks, and has published a response on Full fibre for the Royal Park streets
(the campaign whose homes are still choosing, from demo_choice).

Full fibre for the Ash streets is smaller and further on: 7 homes pledged for a target of
5, the same two providers posted the same offers, and its choice round closed three weeks
before the demo was seeded: five homes chose Aire Valley Fibre, one Pennine Gigabit and
one none of these. Aire Valley Fibre responded with its plan and keeps its delivery
record: poles on Ash Grove done, poles on Ash Road missed (its date passed undone), every
home connected still planned; two homes on Ash Grove said the service reached them.

The past is seeded through the domain functions with the time each step happened
(`now`, or `today` for the dates a provider types); the closing of the round records
`campaign.choice_closed` and one `offer.chosen` per provider, which the worker delivers to
the providers' demo endpoints like any other event. Seeded before the worker runs (as
`serve --demo` and `groundswell demo` do), so its pass does not find a date past due
between the provider posting it and marking it done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.development.demo import CAMPAIGNS, DEMO_LEAD
from app.development.demo_choice import CHOICE_CAMPAIGN, PROVIDERS, Home, demo_email
from notifications.answering import Purpose, answerable_campaign
from notifications.endpoints import EndpointInput, create_endpoint
from pledges.accounts import Organisation, ensure_lead, ensure_organisation
from pledges.campaigns import Campaign, create_campaign, get_campaign, parse_campaign
from pledges.choices import NONE_OF_THESE, ChoiceInput, choose, close_round, open_round
from pledges.delivery import (
    change_milestone,
    confirm_service,
    mark_missed_milestones,
    parse_milestone,
    parse_milestone_change,
    record_milestone,
)
from pledges.errors import CampaignNotFound
from pledges.offers import parse_offer, post_offer
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.responses import publish_response
from pledges.store import Store, utcnow


@dataclass(frozen=True)
class Council:
    name: str
    member: str  # the email of its member, who can make a key for it with `apikey create`
    receiver: str  # the name of its endpoint at /dev/webhooks/<receiver>


COUNCIL = Council("Leeds City Council", "streetworks@leedscouncil.example", "leeds-city-council")
COUNCIL_RESPONSE = (
    "Thank you to the Royal Park streets for showing the demand so clearly. Whichever "
    "provider you choose, its street works will need a permit from us: we will plan them "
    "with the resurfacing of Royal Park Avenue next spring, so the pavements are dug once."
    "\n\nIf you are on a low income and not sure whether you qualify for a social tariff, "
    "any of our Community Hubs can check with you, free."
)
# The council's response was published this many days before the demo was seeded (a
# response a day per organisation, so the demo's council may still publish one today).
COUNCIL_RESPONSE_AGO = 2

DELIVERY_CAMPAIGN: dict[str, Any] = {
    "slug": "full-fibre-for-the-ash-streets",
    "title": "Full fibre for the Ash streets",
    "summary": "Homes on Ash Grove and Ash Road asked for full fibre, chose a provider, "
    "and now watch it keep its dates.",
    "description": "Ash Grove and Ash Road were the last copper streets in our corner of "
    "Headingley. Seven homes pledged, the campaign tipped, and two providers posted "
    "offers.\n\nWe chose Aire Valley Fibre, and its delivery record is below: each date it "
    "promised, whether it kept it, and how many of us say the service has reached our "
    "home.",
    "category": "broadband",
    "area": {"name": "Headingley, Leeds", "postcode_districts": ["LS6"]},
    "counts": "households",
    "target": 5,
}
DELIVERY_DAYS = 30
# The story's days, counted back from the day the demo is seeded.
OFFERS_AGO = 40
ROUND_OPENED_AGO = 38
ROUND_CLOSED_AGO = 24  # the round ran 14 days
RESPONSE_AGO = 23

# Each home's choice (an index in PROVIDERS, or NONE_OF_THESE), made by its one pledger.
ASH_HOMES = (
    Home((("Moira Flanagan", True),), "2 Ash Grove", "LS6 3JB", 0, False, True),
    Home((("Tariq Aziz", True),), "4 Ash Grove", "LS6 3JB", 0, True, True),
    Home((("Eleanor Voss", False),), "7 Ash Grove", "LS6 3JB", 0, False, None),
    Home((("Ravi Menon", True),), "1 Ash Road", "LS6 3JE", 0, True, True),
    Home((("Carys Lloyd", False),), "5 Ash Road", "LS6 3JE", 0, False, False),
    Home((("Joe Brennan", True),), "8 Ash Road", "LS6 3JE", 1, False, True),
    Home((("Agnes Mwangi", False),), "12 Ash Road", "LS6 3JE", NONE_OF_THESE, False),
)

AIRE_RESPONSE = (
    "Thank you for choosing Full fibre 500: five of your seven homes did. We build street "
    "by street, Ash Grove first, then Ash Road, and connect each home once the fibre is on "
    "its pole.\n\nOur dates are in the delivery record on this page. If one slips, we will "
    "say so here, and everyone waiting is emailed."
)


@dataclass(frozen=True)
class Step:
    """A milestone Aire Valley Fibre posted the day after the round closed: its kind, title
    and due date, and the day it was done (None: not done), in days before seeding."""

    kind: str
    title: str
    due_ago: int
    done_ago: int | None = None


MILESTONES = (
    Step("build", "Fibre to the poles on Ash Grove", due_ago=10, done_ago=12),
    # Its date passes undone: the campaign page shows it missed, and those waiting are told.
    Step("build", "Fibre to the poles on Ash Road", due_ago=4),
    Step("first_connections", "Every home that chose Full fibre 500 connected", due_ago=-21),
)
# The two Ash Grove homes connected once the poles were up: (pledger, days before seeding).
SERVED = (("Moira Flanagan", 6), ("Tariq Aziz", 5))


async def _organisation(store: Store, name: str, kind: str, member: str) -> Organisation:
    async with store.write() as db:
        return await ensure_organisation(db, name, kind, member)


async def _answerable(store: Store, org: Organisation, slug: str, purpose: Purpose) -> Campaign:
    """As the organisation's pages check it before each answer."""
    return await answerable_campaign(store.database, org, slug, purpose)


async def seed_delivery_demo(store: Store, base_url: str) -> bool:
    """Add the council's response on Royal Park and the campaign whose round closed, with
    its results and delivery record, to a demo database once; `base_url` is where the app
    serves /dev/webhooks. Returns False when there is nothing to do: not a demo database,
    the choice campaign not seeded, or seeded already."""
    db = store.database
    try:
        await get_campaign(db, DELIVERY_CAMPAIGN["slug"])
        return False
    except CampaignNotFound:
        pass
    try:
        await get_campaign(db, str(CAMPAIGNS[0]["slug"]))
        royal_park = await get_campaign(db, CHOICE_CAMPAIGN["slug"])
    except CampaignNotFound:
        return False  # someone's own campaigns, or no providers yet: leave them alone
    now = utcnow()

    def ago(days: int) -> datetime:
        return now - timedelta(days=days)

    council = await _organisation(store, COUNCIL.name, "council", COUNCIL.member)
    await create_endpoint(
        store,
        council.id,
        EndpointInput(
            url=f"{base_url.rstrip('/')}/dev/webhooks/{COUNCIL.receiver}",
            description="The demo's receiver (/dev/webhooks)",
            event_types=(),
            filters={"postcode_prefixes": ["LS6"]},
        ),
    )
    await _answerable(store, council, royal_park.slug, "response")
    await publish_response(
        store, royal_park.id, council.id, COUNCIL_RESPONSE, now=ago(COUNCIL_RESPONSE_AGO)
    )

    # The providers and their endpoints are demo_choice's.
    providers = [await _organisation(store, p.name, "provider", p.member) for p in PROVIDERS]
    async with store.write() as db:
        lead = await ensure_lead(db, DEMO_LEAD)
    data = {
        **DELIVERY_CAMPAIGN,
        "deadline": (now + timedelta(days=DELIVERY_DAYS)).isoformat(),
    }
    campaign = await create_campaign(store, lead.id, parse_campaign(data))
    pledger: dict[str, int] = {}
    for home in ASH_HOMES:
        for name, share in home.pledgers:
            spec = {
                "name": name,
                "email": demo_email(name),
                "postcode": home.postcode,
                "address_line": home.address_line,
                "show_name": share,
                "share_contact": share,
            }
            outcome = await record_pledge(store, campaign.slug, parse_pledge(spec))
            await confirm_pledge(store, outcome.pledge_id)
            pledger[name] = outcome.pledge_id

    offers = []
    for provider, organisation in zip(PROVIDERS, providers, strict=True):
        campaign = await _answerable(store, organisation, campaign.slug, "offer")
        offer = parse_offer(provider.offer, now=ago(OFFERS_AGO))
        offers.append(
            await post_offer(store, campaign, organisation.id, offer, now=ago(OFFERS_AGO))
        )
    await open_round(
        store,
        campaign.id,
        ago(ROUND_CLOSED_AGO),
        lead_id=lead.id,
        now=ago(ROUND_OPENED_AGO),
    )
    for i, home in enumerate(ASH_HOMES):
        assert home.choice is not None
        offer_id = home.choice if isinstance(home.choice, str) else offers[home.choice].public_id
        name = home.pledgers[-1][0]
        await choose(
            store,
            pledger[name],
            ChoiceInput(offer_id, home.needs_social_tariff, home.share_contact),
            now=ago(ROUND_OPENED_AGO) + timedelta(days=1 + i),
        )
    await close_round(store, campaign.id, now=ago(ROUND_CLOSED_AGO))

    aire = providers[0]
    await _answerable(store, aire, campaign.slug, "response")
    await publish_response(store, campaign.id, aire.id, AIRE_RESPONSE, now=ago(RESPONSE_AGO))
    posted_on = ago(RESPONSE_AGO).date()
    for step in MILESTONES:
        campaign = await _answerable(store, aire, campaign.slug, "delivery")
        spec = {
            "kind": step.kind,
            "title": step.title,
            "due_on": ago(step.due_ago).date().isoformat(),
        }
        milestone = await record_milestone(
            store, campaign, aire.id, parse_milestone(spec, today=posted_on)
        )
        if step.done_ago is not None:
            done_on = ago(step.done_ago).date()
            change = parse_milestone_change({"done_on": done_on.isoformat()}, today=done_on)
            await change_milestone(store, campaign, aire.id, milestone.public_id, change)
    for name, days in SERVED:
        await confirm_service(store, pledger[name], now=ago(days))
    # What the worker's pass would do: the Ash Road date is marked missed, once.
    await mark_missed_milestones(store, now=now)
    return True
