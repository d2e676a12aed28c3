"""The demo's campaigns that ask what each household would pay.

Full fibre for Far Headingley asks the most a household would pay a month (£20 to £40)
and tips when 30 homes would pay £30 or more; its pledges are spread over the prices and
the three firmnesses, some recorded by the lead on paper or for a neighbour without
email, so its demand curve falls as the price rises, as a real one does.

Community fibre for Hawthorn Lane shares a provider's quote: nine homes, £16,000 to
build, less a £1,500 gigabit voucher per home. Seven homes have pledged a one-off amount; it tips
when, for some N, at least N homes would pay the quote / N less the voucher, and at least
a fifth of the counted homes are in LS17, the lane's end of almshouse cottages (its
equity floor). One more home at £500 or more covers the cost (8 homes at £500 each); only
a home in LS17 also meets the floor.

Seeded through the domain functions, as every other demo campaign is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from app.development.demo import unseeded_demo_lead
from pledges.campaigns import create_campaign, parse_campaign
from pledges.pledging import (
    confirm_pledge,
    parse_pledge,
    parse_vouched_pledge,
    record_paper_pledge,
    record_pledge,
    record_vouched_pledge,
)
from pledges.store import Store, utcnow

PRICE_CAMPAIGN: dict[str, Any] = {
    "slug": "full-fibre-for-far-headingley",
    "title": "Full fibre for Far Headingley: what would you pay?",
    "summary": "Tell the provider the most you would pay a month for gigabit broadband. "
    "When 30 homes would pay £30 a month or more, it plans the build.",
    "description": "A provider will bring full fibre to Far Headingley if enough homes would "
    "take it at a price that pays for the build: it has told us 30 homes at £30 a month.\n\n"
    'Pick the most your home would pay a month, or "not sure", and how firm you are: '
    "interested, will switch when it is offered at or below your price, or ready to put "
    "down a deposit. The provider sees only the totals: how many homes at each price, and "
    "how firm.",
    "category": "broadband",
    "area": {"name": "Far Headingley, Leeds", "postcode_districts": ["LS6", "LS16"]},
    "counts": "households",
    "target": 30,
    "price_question": {
        "currency": "gbp",
        "period": "month",
        "price_points": [2000, 2500, 3000, 3500, 4000],
    },
    "target_price": 3000,
}
PRICE_DAYS = 50

# How many homes answered each price (None: "not sure"), by firmness. Cheaper answers are
# the commonest, so the curve D(p) falls from 33 homes at £20 to 3 at £40; 16 would pay
# £30 or more, so 14 more such homes tip it.
PRICE_ANSWERS: dict[int | None, dict[str, int]] = {
    2000: {"interested": 4, "will_switch": 3, "deposit": 1},
    2500: {"interested": 3, "will_switch": 5, "deposit": 1},
    3000: {"interested": 2, "will_switch": 4, "deposit": 2},
    3500: {"interested": 1, "will_switch": 2, "deposit": 2},
    4000: {"will_switch": 1, "deposit": 2},
    None: {"interested": 3, "will_switch": 1},
}
PRICE_STREETS = (
    ("Grove Lane", "LS6 4EQ"),
    ("Shire Oak Road", "LS6 2DE"),
    ("Weetwood Lane", "LS16 5NP"),
    ("Alma Road", "LS6 2AH"),
)

COST_CAMPAIGN: dict[str, Any] = {
    "slug": "community-fibre-for-hawthorn-lane",
    "title": "Community fibre for Hawthorn Lane",
    "summary": "The provider's quote to bring full fibre up our lane is £16,000, less a "
    "£1,500 voucher for each home that joins. How much of the rest would your home put in?",
    "description": "Hawthorn Lane's nine homes are too few for the provider's own plans, "
    "so it has quoted us for a Community Fibre Partnership: £16,000 for the lane, and each "
    "home that joins brings a £1,500 gigabit voucher. The fewer of us join, the more each "
    "pays: £500 each if eight homes join.\n\n"
    "Say the most your home would pay, once. The campaign tips as soon as enough homes "
    "would pay their share, and at least a fifth of them are in the almshouse cottages at "
    "the LS17 end of the lane, so the build does not leave them out.",
    "category": "broadband",
    "area": {"name": "Hawthorn Lane, Eccup", "postcode_districts": ["LS16", "LS17"]},
    "counts": "households",
    "premises": {"count": 9},
    "price_question": {
        "currency": "gbp",
        "period": "once",
        "price_points": [25_000, 50_000, 75_000, 100_000, 150_000],
    },
    "quote": {"total": 1_600_000, "currency": "gbp", "voucher_per_home": 150_000, "tip": True},
    "equity_floor": {"share": 20, "districts": ["LS17"]},
}
COST_DAYS = 35


@dataclass(frozen=True)
class DemoPledge:
    """One seeded pledge: who, where, what they answered and how it was recorded (`email`:
    the resident confirmed by email; `paper`: the lead typed in a paper form; `no_email`:
    the lead recorded it for a neighbour without email, on their word)."""

    name: str
    address_line: str
    postcode: str
    max_price: int | None
    firmness: str
    how: str = "email"
    show_name: bool = False

    @property
    def email(self) -> str:
        first, last = self.name.lower().split(" ", 1)
        return f"{first}.{last.replace(' ', '')}@demo.groundswell.localhost"

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "postcode": self.postcode,
            "address_line": self.address_line,
            "max_price": "not_sure" if self.max_price is None else self.max_price,
            "firmness": self.firmness,
            "show_name": self.show_name,
        }
        if self.how == "no_email":
            return {**data, "attested": True}
        return {**data, "email": self.email}


FIRST_NAMES = (
    "Aisha", "Ben", "Carys", "Dev", "Ella", "Farid", "Gemma", "Harun", "Isla", "Jamal",
    "Kate", "Liam", "Maya", "Niall", "Orla", "Pavel", "Rosa", "Sunil", "Tess", "Umar",
)  # fmt: skip
LAST_NAMES = ("Ahmed", "Barker", "Chen", "Doyle", "Evans", "Fraser", "Gill", "Hughes", "Iqbal")


def price_pledges() -> list[DemoPledge]:
    """The Far Headingley pledges, as PRICE_ANSWERS says: one home each, over four streets;
    one in eight typed in from a paper form, one in eight recorded for a neighbour without
    email, the rest confirmed by email."""
    seeded: list[DemoPledge] = []
    for price, by_firmness in PRICE_ANSWERS.items():
        for firmness, count in by_firmness.items():
            for _ in range(count):
                i = len(seeded)
                street, postcode = PRICE_STREETS[i % len(PRICE_STREETS)]
                how = {3: "paper", 7: "no_email"}.get(i % 8, "email")
                seeded.append(
                    DemoPledge(
                        name=f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[i % 9]}",
                        address_line=f"{2 * (i // len(PRICE_STREETS)) + 1} {street}",
                        postcode=postcode,
                        max_price=price,
                        firmness=firmness,
                        how=how,
                        show_name=i % 3 == 0,
                    )
                )
    return seeded


# Seven of the nine homes: six in LS16, one almshouse cottage in LS17 (one in seven, under
# the floor of a fifth). Every one would pay £750 or more: 7 x (£750 + £1,500) = £15,750 of
# the £16,000.
COST_PLEDGES = [
    DemoPledge("Margaret Hale", "1 Hawthorn Lane", "LS16 9JX", 150_000, "deposit", "email", True),
    DemoPledge("Owen Price", "3 Hawthorn Lane", "LS16 9JX", 150_000, "will_switch", "email"),
    DemoPledge("Yasmin Rahman", "5 Hawthorn Lane", "LS16 9JX", 100_000, "deposit", "email", True),
    DemoPledge("Peter Lund", "7 Hawthorn Lane", "LS16 9JX", 100_000, "will_switch", "paper"),
    DemoPledge("Ruth Adeyemi", "Hawthorn Farm", "LS16 9JY", 100_000, "will_switch", "email"),
    DemoPledge("Colin Marsh", "The Old Forge", "LS16 9JY", 75_000, "interested", "email"),
    DemoPledge(
        "Edna Firth", "2 Almshouse Cottages", "LS17 9NL", 100_000, "will_switch", "no_email"
    ),
]


async def _seed_campaign(
    store: Store, lead_id: int, spec: dict[str, Any], days: int, seeded: list[DemoPledge]
) -> None:
    data = {**spec, "deadline": (utcnow() + timedelta(days=days)).isoformat()}
    campaign = await create_campaign(store, lead_id, parse_campaign(data))
    for pledge in seeded:
        if pledge.how == "email":
            outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge.data()))
            await confirm_pledge(store, outcome.pledge_id)
        elif pledge.how == "paper":
            await record_paper_pledge(store, campaign.slug, lead_id, parse_pledge(pledge.data()))
        else:
            await record_vouched_pledge(
                store, campaign.slug, lead_id, parse_vouched_pledge(pledge.data())
            )


async def seed_demand_demo(store: Store) -> bool:
    """Add the two campaigns that ask a price to a demo database, once. Returns False when
    there is nothing to do: not a demo database, or seeded already."""
    lead = await unseeded_demo_lead(store, PRICE_CAMPAIGN["slug"])
    if lead is None:
        return False
    await _seed_campaign(store, lead.id, PRICE_CAMPAIGN, PRICE_DAYS, price_pledges())
    await _seed_campaign(store, lead.id, COST_CAMPAIGN, COST_DAYS, COST_PLEDGES)
    return True
