"""Per-IP limits on anonymous pledging, counted from the stored pledges."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pledges.errors import RateLimited
from pledges.pledging import parse_pledge, record_paper_pledge, record_pledge, withdraw_pledge
from pledges.rate_limits import DEFAULT_PLEDGE_RATE_LIMIT, RateLimit, RateWindow
from pledges.store import Store, aware
from pledges.tables import pledges
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_lead, pledge_data

BURST: RateLimit = (RateWindow(1, 60),)
IP = "203.0.113.7"


async def pledge(
    store: Store, slug: str, i: int, ip: str | None = IP, limit: RateLimit = BURST
) -> int:
    outcome = await record_pledge(
        store, slug, parse_pledge(pledge_data(i)), ip=ip, rate_limit=limit
    )
    return outcome.pledge_id


async def age(store: Store, pledge_id: int, seconds: int) -> None:
    """Move a pledge's stored creation time `seconds` into the past: no sleeping."""
    created = aware(
        await store.database.fetch_val(
            sa.select(pledges.c.created_at).where(pledges.c.id == pledge_id)
        )
    )
    assert created is not None
    await store.database.execute(
        sa.update(pledges)
        .where(pledges.c.id == pledge_id)
        .values(created_at=created - timedelta(seconds=seconds))
    )


async def test_the_address_of_an_anonymous_pledge_is_stored(store: Store) -> None:
    campaign = await make_campaign(store)
    pledge_id = await pledge(store, campaign.slug, 1, ip="2001:db8::1")

    stored = await store.database.fetch_val(
        sa.select(pledges.c.ip).where(pledges.c.id == pledge_id)
    )

    assert stored == "2001:db8::1"


async def test_over_the_limit_is_refused_and_stores_nothing(store: Store) -> None:
    campaign = await make_campaign(store)
    await pledge(store, campaign.slug, 1)
    before = await table_snapshot(store)

    with pytest.raises(RateLimited) as refused:
        await pledge(store, campaign.slug, 2)

    assert await table_snapshot(store) == before
    assert 59 <= refused.value.retry_after_seconds <= 60


async def test_the_burst_window_is_counted_from_the_stored_time(store: Store) -> None:
    campaign = await make_campaign(store)
    first = await pledge(store, campaign.slug, 1)
    await age(store, first, 50)

    with pytest.raises(RateLimited) as refused:
        await pledge(store, campaign.slug, 2)
    assert 9 <= refused.value.retry_after_seconds <= 10

    await age(store, first, 11)  # now 61 s old: outside the 60 s window
    await pledge(store, campaign.slug, 2)


async def test_the_sustained_window_counts_five_in_five_minutes(store: Store) -> None:
    campaign = await make_campaign(store)
    ids = []
    for i, seconds_ago in enumerate([290, 230, 170, 110, 61]):
        ids.append(await pledge(store, campaign.slug, i, limit=DEFAULT_PLEDGE_RATE_LIMIT))
        await age(store, ids[-1], seconds_ago)  # each one allowed by 1/60 when it was made

    with pytest.raises(RateLimited) as refused:
        await pledge(store, campaign.slug, 9, limit=DEFAULT_PLEDGE_RATE_LIMIT)
    # The oldest of the five leaves the 300 s window in 10 s.
    assert 9 <= refused.value.retry_after_seconds <= 10

    await age(store, ids[0], 11)
    await pledge(store, campaign.slug, 9, limit=DEFAULT_PLEDGE_RATE_LIMIT)


async def test_the_longest_wait_of_the_windows_is_given(store: Store) -> None:
    campaign = await make_campaign(store)
    ids = [await pledge(store, campaign.slug, i, limit=()) for i in range(5)]
    for pledge_id in ids:
        await age(store, pledge_id, 100)

    with pytest.raises(RateLimited) as refused:
        await pledge(store, campaign.slug, 9, limit=DEFAULT_PLEDGE_RATE_LIMIT)

    assert 199 <= refused.value.retry_after_seconds <= 200  # 5/300, not 1/60


async def test_other_addresses_and_other_campaigns_are_counted_apart(store: Store) -> None:
    one = await make_campaign(store)
    two = await make_campaign(store)
    await pledge(store, one.slug, 1, ip="203.0.113.7")

    await pledge(store, one.slug, 2, ip="203.0.113.8")
    await pledge(store, one.slug, 3, ip="2001:db8::7")
    await pledge(store, two.slug, 4, ip="203.0.113.7")

    with pytest.raises(RateLimited):
        await pledge(store, one.slug, 5, ip="203.0.113.7")


async def test_a_repeated_pledge_over_the_limit_is_refused_like_a_new_one(store: Store) -> None:
    # The same answer for a new and a repeated email: the limit reveals nobody's pledge.
    campaign = await make_campaign(store)
    await pledge(store, campaign.slug, 1)

    with pytest.raises(RateLimited):
        await pledge(store, campaign.slug, 1)


async def test_pledging_again_after_withdrawing_counts_as_a_pledge(store: Store) -> None:
    campaign = await make_campaign(store)
    first = await pledge(store, campaign.slug, 1)
    await withdraw_pledge(store, first)
    await age(store, first, 61)

    again = await pledge(store, campaign.slug, 1, ip="198.51.100.1")

    assert again == first
    row = await store.database.fetch_one(
        sa.select(pledges.c.ip, pledges.c.status).where(pledges.c.id == first)
    )
    assert row is not None and (row["ip"], row["status"]) == ("198.51.100.1", "pending")
    with pytest.raises(RateLimited):
        await pledge(store, campaign.slug, 2, ip="198.51.100.1")


async def test_an_empty_limit_or_no_address_is_not_limited(store: Store) -> None:
    campaign = await make_campaign(store)
    for i in range(4):
        await pledge(store, campaign.slug, i, limit=())
    for i in range(4, 8):
        await pledge(store, campaign.slug, i, ip=None)

    count = await store.database.fetch_val(
        sa.select(sa.func.count()).select_from(pledges).where(pledges.c.campaign_id == campaign.id)
    )
    assert count == 8


async def test_paper_pledges_are_not_limited_and_do_not_count(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    for i in range(6):
        await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(i)))

    await pledge(store, campaign.slug, 10)  # the paper pledges used none of the limit


async def test_concurrent_pledges_from_one_address_are_limited_exactly(store: Store) -> None:
    campaign = await make_campaign(store)

    results = await asyncio.gather(
        *(pledge(store, campaign.slug, i) for i in range(12)), return_exceptions=True
    )

    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, RateLimited) for r in results) == 11
    count = await store.database.fetch_val(
        sa.select(sa.func.count()).select_from(pledges).where(pledges.c.campaign_id == campaign.id)
    )
    assert count == 1
