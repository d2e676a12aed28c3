"""The demo's campaign that counts households: a premises list over two streets, a 40 %
coverage target, several homes (two people in one flat), one home verified by letter and
one pledge without email; two more listed homes tip it, and the neighbour without email
is then on the lead's list to tell by hand."""

from __future__ import annotations

import sqlalchemy as sa

from app.development.demo import HOUSEHOLDS_CAMPAIGN, seed_demo, seed_households_demo
from notifications.hand_notes import untold_count
from notifications.outbox import dispatch_events
from pledges.campaigns import get_campaign
from pledges.counting import household_breakdown
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import pledges
from pledges.tokens import Signer
from tests.conftest import TEST_SECRET

SLUG = HOUSEHOLDS_CAMPAIGN["slug"]


async def test_the_demo_seeds_a_households_campaign_a_visitor_can_tip(store: Store) -> None:
    signer = Signer(TEST_SECRET)
    assert await seed_households_demo(store, signer) is False  # not a demo database yet
    assert await seed_demo(store)
    assert await seed_households_demo(store, signer)
    assert await seed_households_demo(store, signer) is False  # once only

    campaign = await get_campaign(store.database, SLUG)
    assert (campaign.status, campaign.counts, campaign.coverage_target) == (
        "open",
        "households",
        40,
    )
    assert (campaign.premises_listed, campaign.confirmed, campaign.household_count) == (20, 7, 6)
    assert campaign.tally.coverage_percent == 30.0
    breakdown = await household_breakdown(store.database, campaign)
    assert breakdown["by_level"] == {"letter": 1, "vouched": 1, "email": 4}
    without_email = await store.database.fetch_val(
        sa.select(sa.func.count())
        .select_from(pledges)
        .where(pledges.c.campaign_id == campaign.id, pledges.c.email.is_(None))
    )
    assert without_email == 1

    # Two more homes on the list: 8 of 20 is the 40 % that tips it.
    for i, line in enumerate(("3 Cardigan Road", "12 Chestnut Avenue")):
        postcode = "LS6 1LJ" if "Cardigan" in line else "LS6 1BA"
        data = {
            "name": f"Visitor {i}",
            "email": f"visitor{i}@example.org",
            "postcode": postcode,
            "address_line": line,
        }
        outcome = await record_pledge(store, SLUG, parse_pledge(data))
        await confirm_pledge(store, outcome.pledge_id)
    tipped = await get_campaign(store.database, SLUG)
    assert (tipped.status, tipped.household_count, tipped.tally.coverage_percent) == (
        "tipped",
        8,
        40.0,
    )
    await dispatch_events(store)
    assert await untold_count(store.database, campaign.id) == 1
