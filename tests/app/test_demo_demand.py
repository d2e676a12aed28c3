"""The demo's campaigns that ask a price: Far Headingley's demand curve over £20-£40 a
month, equal to a count of the pledges seeded; Hawthorn Lane's shared quote, which one
more home covers, and its equity floor, which only a home in LS17 meets. `groundswell
demo` seeds them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from app.development.demo import seed_demo
from app.development.demo_demand import (
    COST_CAMPAIGN,
    COST_PLEDGES,
    PRICE_ANSWERS,
    PRICE_CAMPAIGN,
    price_pledges,
    seed_demand_demo,
)
from pledges.campaigns import Campaign, get_campaign
from pledges.demand import FIRMNESS
from pledges.demand_curve import cost_each, demand_curve
from pledges.journal import events_for_campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import pledges

ROOT = Path(__file__).resolve().parents[2]
PRICE_SLUG = PRICE_CAMPAIGN["slug"]
COST_SLUG = COST_CAMPAIGN["slug"]


async def counted_pledges(store: Store, campaign: Campaign) -> list[dict[str, object]]:
    rows = await store.database.fetch_all(
        sa.select(
            pledges.c.max_price, pledges.c.firmness, pledges.c.source, pledges.c.vouched_by
        ).where(pledges.c.campaign_id == campaign.id, pledges.c.status == "confirmed")
    )
    return [dict(r._mapping) for r in rows]


async def test_the_demo_seeds_a_falling_demand_curve_that_counts_its_pledges(
    store: Store,
) -> None:
    assert await seed_demand_demo(store) is False  # not a demo database yet
    assert await seed_demo(store)
    assert await seed_demand_demo(store)
    assert await seed_demand_demo(store) is False  # once only

    campaign = await get_campaign(store.database, PRICE_SLUG)
    assert (campaign.status, campaign.counts, campaign.target, campaign.target_price) == (
        "open",
        "households",
        30,
        3000,
    )
    assert (campaign.price_currency, campaign.price_period) == ("gbp", "month")
    assert campaign.price_points == (2000, 2500, 3000, 3500, 4000)
    seeded = await counted_pledges(store, campaign)
    assert len(seeded) == len(price_pledges()) == campaign.household_count == 37

    curve = await demand_curve(store.database, campaign)
    assert curve is not None
    for point in curve.points:
        at_least = [
            p for p in seeded if p["max_price"] is not None and p["max_price"] >= point.price
        ]
        assert point.count == len(at_least)
        assert point.by_firmness == {
            f: sum(1 for p in at_least if p["firmness"] == f) for f in FIRMNESS
        }
        vouched = sum(1 for p in at_least if p["source"] == "paper" or p["vouched_by"])
        assert (point.by_level["vouched"], point.by_level["email"]) == (
            vouched,
            len(at_least) - vouched,
        )
    assert curve.not_sure == sum(1 for p in seeded if p["max_price"] is None) == 4
    # The intended shape: falling from 33 homes at £20 to 3 at £40, spread over the firmnesses.
    assert [p.count for p in curve.points] == [33, 25, 16, 8, 3]
    assert all(0 < p.by_firmness["deposit"] < p.count for p in curve.points)
    assert all(p.by_firmness["will_switch"] for p in curve.points)
    assert sum(p.by_firmness["interested"] for p in curve.points) > 0
    assert curve.points[0].by_level["vouched"] > 0
    # Tipping counts homes at the target price or more: 16 of 30.
    assert campaign.priced_count == curve.points[2].count == 16
    assert campaign.tally.units == 16 and campaign.tally.goal == 30
    # Firmness counters agree with the pledges too (every home, "not sure" included).
    assert campaign.firmness_counts == dict(Counter(p["firmness"] for p in seeded))
    assert sum(sum(v.values()) for v in PRICE_ANSWERS.values()) == len(seeded)


async def test_the_demo_shares_a_quote_and_keeps_an_equity_floor(store: Store) -> None:
    await seed_demo(store)
    await seed_demand_demo(store)
    campaign = await get_campaign(store.database, COST_SLUG)
    assert (campaign.status, campaign.price_period, campaign.tip_on_cost) == ("open", "once", True)
    assert (campaign.quote_total, campaign.quote_voucher) == (1_600_000, 150_000)
    assert (campaign.equity_share, campaign.equity_districts) == (20, ("LS17",))
    seeded = await counted_pledges(store, campaign)
    assert len(seeded) == len(COST_PLEDGES) == campaign.household_count == 7
    curve = await demand_curve(store.database, campaign)
    assert curve is not None
    assert [p.count for p in curve.points] == [
        sum(1 for p in seeded if p["max_price"] is not None and p["max_price"] >= point)
        for point in campaign.price_points
    ]
    # The most any point's homes would put in: 7 x (£750 + £1,500), short of £16,000.
    assert campaign.cost_covered == 7 * (75_000 + 150_000) < campaign.quote_total
    assert campaign.priority_count == 1 and not campaign.tally.equity_met
    assert cost_each(1_600_000, 150_000, 8) == 50_000  # £500 each if eight homes join

    async def pledge(name: str, line: str, postcode: str, price: int) -> None:
        data = {
            "name": name,
            "email": f"{name.replace(' ', '.').lower()}@example.org",
            "postcode": postcode,
            "address_line": line,
            "max_price": price,
        }
        outcome = await record_pledge(store, COST_SLUG, parse_pledge(data))
        await confirm_pledge(store, outcome.pledge_id)

    # An eighth home at £500 covers the quote (8 x £2,000), but it is in LS16: one home in
    # eight from LS17 is under the floor of a fifth, so the campaign does not tip.
    await pledge("Visitor One", "9 Hawthorn Lane", "LS16 9JX", 50_000)
    covered = await get_campaign(store.database, COST_SLUG)
    assert covered.cost_covered >= covered.quote_total
    assert (covered.status, covered.tally.equity_met) == ("open", False)
    # A second almshouse cottage: 2 of 9 homes in LS17 meets the floor, and it tips.
    await pledge("Visitor Two", "4 Almshouse Cottages", "LS17 9NL", 25_000)
    tipped = await get_campaign(store.database, COST_SLUG)
    assert (tipped.status, tipped.priority_count, tipped.household_count) == ("tipped", 2, 9)
    events = [e.type for e in await events_for_campaign(store.database, tipped.id)]
    assert events.count("campaign.tipped") == 1


def test_groundswell_demo_seeds_the_price_campaigns(tmp_path: Path) -> None:
    db_path = tmp_path / "demo.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT slug, price_period, target_price, household_count, priced_count, "
            "cost_covered FROM campaigns WHERE price_points IS NOT NULL ORDER BY slug"
        ).fetchall()
    assert rows == [
        (COST_SLUG, "once", None, 7, 0, 7 * (75_000 + 150_000)),
        (PRICE_SLUG, "month", 3000, 37, 16, 0),
    ]
