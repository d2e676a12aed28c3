"""The demo's tipped campaign whose residents are choosing between providers' offers.

Full fibre for the Royal Park streets counts homes and has tipped: 12 homes pledged (two
flatmates in one of them), for a target of 10. Two providers whose webhook endpoints cover
it have posted offers: Aire Valley Fibre with a social tariff, Pennine Gigabit with a
plain statement that it has none. Its lead opened the choice round, closing in ten days,
and eight homes have chosen already: five Aire Valley Fibre's offer (one of them the
flatmates' home, chosen by the second flatmate), two Pennine Gigabit's and one none of
these; five of them said they would need a social tariff, the fewest that is ever shown.
Four homes have not chosen yet: their emails hold the links to choose.

The providers' endpoints deliver to this app's /dev/webhooks receiver (development only).
Seeded through the domain functions, as every other demo campaign is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from app.development.demo import unseeded_demo_lead
from notifications.endpoints import EndpointInput, create_endpoint
from pledges.accounts import ensure_organisation
from pledges.campaigns import create_campaign, get_campaign, parse_campaign
from pledges.choices import NONE_OF_THESE, ChoiceInput, choose, open_round
from pledges.contact_downloads import approve_organisation
from pledges.offers import parse_offer, post_offer
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store, utcnow

CHOICE_CAMPAIGN: dict[str, Any] = {
    "slug": "full-fibre-for-the-royal-park-streets",
    "title": "Full fibre for the Royal Park streets",
    "summary": "Ten homes on the Royal Parks asked for full fibre, and two providers "
    "answered: compare their offers and choose, or choose neither.",
    "description": "The Royal Park streets were left out of every provider's build plan. "
    "When ten of our homes pledged, the campaign tipped, and the providers covering LS6 "
    "were told.\n\nTwo of them have posted offers. Every pledger gets both side by side "
    "and chooses one, or none of these, until the round closes. Each offer says what it "
    "does for households on low incomes, and you can say privately if you would need a "
    "social tariff: the providers only ever see how many of us would.",
    "category": "broadband",
    "area": {"name": "Royal Park, Leeds", "postcode_districts": ["LS6"]},
    "counts": "households",
    "target": 10,
}
CHOICE_DAYS = 30
ROUND_DAYS = 10


@dataclass(frozen=True)
class Provider:
    name: str
    member: str  # the email of its member, who can make a key for it with `apikey create`
    receiver: str  # the name of its endpoint at /dev/webhooks/<receiver>
    offer: dict[str, Any]


PROVIDERS = (
    Provider(
        "Aire Valley Fibre",
        "ops@airevalleyfibre.example",
        "aire-valley-fibre",
        {
            "title": "Full fibre 500",
            "description": "500 Mb/s download and 75 Mb/s upload, with a router and "
            "installation included.\n\nNo price rise during the minimum term.",
            "price": 2800,
            "period": "month",
            "setup_fee": 0,
            "minimum_term_months": 12,
            "social_tariff": {
                "price": 1500,
                "who_qualifies": "Households receiving Universal Credit, Pension Credit, "
                "Jobseeker's Allowance or Employment and Support Allowance.",
            },
        },
    ),
    Provider(
        "Pennine Gigabit",
        "hello@penninegigabit.example",
        "pennine-gigabit",
        {
            "title": "Gigabit 900",
            "description": "900 Mb/s both ways, for homes that work and stream at once."
            "\n\nA one-off set-up fee covers the fibre to your door.",
            "price": 3500,
            "period": "month",
            "setup_fee": 5000,
            "minimum_term_months": 18,
            "no_social_tariff": "We do not offer a social tariff yet. We will review it "
            "once the network here is built.",
        },
    ),
)


@dataclass(frozen=True)
class Home:
    """One of the twelve homes: its pledgers (name, whether they share their contact
    details when pledging), its address, and its choice (None: not chosen yet)."""

    pledgers: tuple[tuple[str, bool], ...]
    address_line: str
    postcode: str
    # The provider's index in PROVIDERS, NONE_OF_THESE, or None; made by the home's
    # last pledger, with their social-tariff answer and consent to be contacted.
    choice: int | str | None = None
    needs_social_tariff: bool = False
    share_contact: bool | None = None


HOMES = (
    Home((("Nadia Hussain", True),), "3 Royal Park Grove", "LS6 1HQ", 0, True, True),
    Home((("Geoff Barnes", False),), "5 Royal Park Grove", "LS6 1HQ", 0, False, None),
    Home(
        (("Ola Adebayo", False), ("Kit Adebayo", True)),
        "Flat 1, 8 Royal Park Grove",
        "LS6 1HQ",
        0,
        True,
        True,
    ),
    Home((("Sue Pickering", True),), "11 Royal Park Grove", "LS6 1HQ", 0, True, False),
    Home((("Imran Malik", True),), "2 Royal Park Avenue", "LS6 1EZ", 0, False, True),
    Home((("Beth Carey", False),), "4 Royal Park Avenue", "LS6 1EZ", 1, True, None),
    Home((("Luis Ortega", True),), "6 Royal Park Avenue", "LS6 1EZ", 1, False, True),
    Home((("June Whitaker", False),), "9 Royal Park Avenue", "LS6 1EZ", NONE_OF_THESE, True),
    Home((("Dan Kirby", True),), "12 Royal Park Avenue", "LS6 1EZ"),
    Home((("Hana Sato", False),), "14 Royal Park Avenue", "LS6 1EZ"),
    Home((("Owen Bright", True),), "17 Royal Park Grove", "LS6 1HQ"),
    Home((("Rita Shah", False),), "19 Royal Park Grove", "LS6 1HQ"),
)


def demo_email(name: str) -> str:
    first, last = name.lower().split(" ", 1)
    return f"{first}.{last}@demo.groundswell.localhost"


async def seed_choice_demo(store: Store, base_url: str) -> bool:
    """Add the tipped campaign with two offers and an open choice round to a demo database,
    once; `base_url` is where the app serves /dev/webhooks, for the providers' endpoints.
    Returns False when there is nothing to do: not a demo database, or seeded already."""
    lead = await unseeded_demo_lead(store, CHOICE_CAMPAIGN["slug"])
    if lead is None:
        return False
    # The providers follow broadband campaigns in LS6 before this one tips, so they are
    # told when it does (at the app's own receiver) and may then answer it.
    providers: list[int] = []
    for provider in PROVIDERS:
        async with store.write() as db:
            organisation = await ensure_organisation(db, provider.name, "provider", provider.member)
            # Approved, so that each can download the contacts its endpoint names.
            await approve_organisation(db, organisation.id, None)
        await create_endpoint(
            store,
            organisation.id,
            EndpointInput(
                url=f"{base_url.rstrip('/')}/dev/webhooks/{provider.receiver}",
                description="The demo's receiver (/dev/webhooks)",
                event_types=(),
                filters={"categories": ["broadband"], "postcode_prefixes": ["LS6"]},
            ),
        )
        providers.append(organisation.id)
    data = {**CHOICE_CAMPAIGN, "deadline": (utcnow() + timedelta(days=CHOICE_DAYS)).isoformat()}
    campaign = await create_campaign(store, lead.id, parse_campaign(data))
    last_pledger: list[int] = []
    for i, home in enumerate(HOMES):
        for name, share in home.pledgers:
            spec = {
                "name": name,
                "email": demo_email(name),
                "postcode": home.postcode,
                "address_line": home.address_line,
                "show_name": i % 3 == 0,
                "share_contact": share,
            }
            outcome = await record_pledge(store, campaign.slug, parse_pledge(spec))
            await confirm_pledge(store, outcome.pledge_id)
        last_pledger.append(outcome.pledge_id)
    campaign = await get_campaign(store.database, campaign.slug)

    offers = [
        await post_offer(store, campaign, organisation_id, parse_offer(provider.offer))
        for provider, organisation_id in zip(PROVIDERS, providers, strict=True)
    ]
    await open_round(store, campaign.id, utcnow() + timedelta(days=ROUND_DAYS), lead_id=lead.id)
    for home, pledge_id in zip(HOMES, last_pledger, strict=True):
        if home.choice is None:
            continue
        offer = home.choice if isinstance(home.choice, str) else offers[home.choice].public_id
        await choose(
            store, pledge_id, ChoiceInput(offer, home.needs_social_tariff, home.share_contact)
        )
    return True
