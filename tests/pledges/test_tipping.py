"""Exactly-once tipping and exact counts under concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import sqlalchemy as sa

from pledges.campaigns import get_campaign
from pledges.journal import events_for_campaign
from pledges.pledging import (
    confirm_pledge,
    parse_pledge,
    record_paper_pledge,
    record_pledge,
    withdraw_pledge,
)
from pledges.store import Store
from pledges.tables import pledges
from tests.factories import make_campaign, make_lead, make_pending_pledges, pledge_data


async def test_300_concurrent_confirmations_tip_exactly_once(store: Store) -> None:
    campaign = await make_campaign(store, target=100)
    ids = await make_pending_pledges(store, campaign.slug, 300)

    outcomes = await asyncio.gather(*(confirm_pledge(store, i) for i in ids))

    assert all(o.newly_confirmed for o in outcomes)
    after = await get_campaign(store.database, campaign.slug)
    assert after.status == "tipped"
    assert after.confirmed == 300
    stored = await store.database.fetch_val(
        sa.select(sa.func.count())
        .select_from(pledges)
        .where(pledges.c.campaign_id == campaign.id, pledges.c.status == "confirmed")
    )
    assert stored == 300
    events = await events_for_campaign(store.database, campaign.id)
    types = [e.type for e in events]
    assert types.count("campaign.tipped") == 1
    assert sorted(e.payload["percent"] for e in events if e.type == "campaign.milestone") == [
        25,
        50,
        75,
    ]
    tipped = next(e for e in events if e.type == "campaign.tipped")
    assert tipped.payload["confirmed"] >= 100
    assert types.count("pledge.confirmed") == 300


async def test_confirmations_from_several_stores_tip_once(store: Store, database_url: str) -> None:
    """Several connection pools at once, as several web processes would be."""
    campaign = await make_campaign(store, target=50)
    ids = await make_pending_pledges(store, campaign.slug, 120)
    others = [Store(database_url) for _ in range(2)]
    for other in others:
        await other.connect()
    try:
        stores = [store, *others]
        await asyncio.gather(
            *(confirm_pledge(stores[n % len(stores)], i) for n, i in enumerate(ids))
        )
    finally:
        for other in others:
            await other.disconnect()
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed) == ("tipped", 120)
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("campaign.tipped") == 1


async def test_repeated_confirmation_counts_once(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    [pledge_id] = await make_pending_pledges(store, campaign.slug, 1)
    outcomes = await asyncio.gather(*(confirm_pledge(store, pledge_id) for _ in range(20)))
    assert sum(o.newly_confirmed for o in outcomes) == 1
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1


async def test_concurrent_confirm_and_withdraw_keep_the_count_exact(store: Store) -> None:
    campaign = await make_campaign(store, target=1000)
    ids = await make_pending_pledges(store, campaign.slug, 60)
    await asyncio.gather(*(confirm_pledge(store, i) for i in ids[:40]))
    # Withdraw 20 confirmed while confirming the other 20 pending.
    await asyncio.gather(
        *(withdraw_pledge(store, i) for i in ids[:20]),
        *(confirm_pledge(store, i) for i in ids[40:]),
    )
    after = await get_campaign(store.database, campaign.slug)
    stored = await store.database.fetch_val(
        sa.select(sa.func.count())
        .select_from(pledges)
        .where(pledges.c.campaign_id == campaign.id, pledges.c.status == "confirmed")
    )
    assert after.confirmed == stored == 40


async def test_tipping_is_irreversible(store: Store) -> None:
    campaign = await make_campaign(store, target=3)
    ids = await make_pending_pledges(store, campaign.slug, 3)
    for i in ids:
        await confirm_pledge(store, i)
    progress = await withdraw_pledge(store, ids[0])
    assert progress.status == "tipped"
    assert progress.confirmed == 2  # the withdrawal is recorded and shown
    after = await get_campaign(store.database, campaign.slug)
    assert after.status == "tipped" and after.tipped_at is not None
    # Reaching the target again does not tip a second time.
    [extra] = await make_pending_pledges(store, campaign.slug, 1, start=100)
    await confirm_pledge(store, extra)
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("campaign.tipped") == 1


async def test_milestone_recorded_once_even_after_withdrawals(store: Store) -> None:
    campaign = await make_campaign(store, target=4, milestones=[50])
    ids = await make_pending_pledges(store, campaign.slug, 3)
    await confirm_pledge(store, ids[0])
    await confirm_pledge(store, ids[1])  # 50 %
    await withdraw_pledge(store, ids[1])  # back to 25 %
    await confirm_pledge(store, ids[2])  # 50 % again
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("campaign.milestone") == 1


FIRMNESS_CYCLE = ("interested", "will_switch", "deposit")


async def test_concurrent_paper_pledges_count_exactly_and_tip_once(store: Store) -> None:
    """300 paper pledges at once, 50 of them repeating an email already sent: each new one
    counts once, under its own count, and exactly the 100th tips the campaign."""
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=100)
    specs = [
        parse_pledge(pledge_data(i % 250, firmness=FIRMNESS_CYCLE[i % 250 % 3])) for i in range(300)
    ]

    outcomes = await asyncio.gather(
        *(record_paper_pledge(store, campaign.slug, lead.id, spec) for spec in specs)
    )

    new = [o for o in outcomes if not o.repeated]
    assert len(new) == 250 and len({o.pledge_id for o in new}) == 250
    assert sorted(o.progress.confirmed for o in new if o.progress is not None) == list(
        range(1, 251)
    )
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed) == ("tipped", 250)
    expected = Counter(FIRMNESS_CYCLE[i % 3] for i in range(250))
    assert after.firmness_counts == dict(expected)
    events = await events_for_campaign(store.database, campaign.id)
    types = [e.type for e in events]
    assert types.count("pledge.confirmed") == 250
    [tipped] = [e for e in events if e.type == "campaign.tipped"]
    assert tipped.payload["confirmed"] == 100  # tipped by the 100th, under its lock
    assert sorted(e.payload["percent"] for e in events if e.type == "campaign.milestone") == [
        25,
        50,
        75,
    ]
    assert {e.payload["source"] for e in events if e.type == "pledge.confirmed"} == {"paper"}


async def test_concurrent_confirmations_tip_at_the_target_and_move_firmness(store: Store) -> None:
    campaign = await make_campaign(store, target=40)
    ids = []
    for i in range(120):
        outcome = await record_pledge(
            store, campaign.slug, parse_pledge(pledge_data(i, firmness=FIRMNESS_CYCLE[i % 3]))
        )
        ids.append(outcome.pledge_id)

    outcomes = await asyncio.gather(*(confirm_pledge(store, i) for i in ids + ids[:30]))

    assert sum(o.newly_confirmed for o in outcomes) == 120
    counts = sorted(o.progress.confirmed for o in outcomes if o.newly_confirmed)
    assert counts == list(range(1, 121))
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed) == ("tipped", 120)
    assert after.firmness_counts == {"interested": 40, "will_switch": 40, "deposit": 40}
    events = await events_for_campaign(store.database, campaign.id)
    [tipped] = [e for e in events if e.type == "campaign.tipped"]
    assert tipped.payload["confirmed"] == 40
    confirmed = [e.payload for e in events if e.type == "pledge.confirmed"]
    assert sorted(p["pledge_id"] for p in confirmed) == sorted(ids)
