"""Group commit: confirmations that arrive together are written in one transaction, and
the campaign's count, milestones, tipping and journal come out exactly as if they had been
confirmed one at a time (both databases)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from pledges import group_commit
from pledges.campaigns import get_campaign
from pledges.errors import PledgeWithdrawn
from pledges.group_commit import confirmation_queue
from pledges.journal import Event, events_for_campaign
from pledges.pledging import (
    confirm_pledge,
    parse_pledge,
    record_pledge,
    withdraw_pledge,
)
from pledges.store import Store
from tests.factories import make_campaign, make_pending_pledges, pledge_data

FIRMNESS_CYCLE = ("interested", "will_switch", "deposit")


@pytest.fixture
def store(store: Store) -> Store:
    """Batching on, whatever the database's default (GROUP_COMMIT=on)."""
    store.group_commit = True
    return store


async def pending(store: Store, slug: str, count: int, start: int = 0, **extra: Any) -> list[int]:
    ids = []
    for i in range(start, start + count):
        outcome = await record_pledge(
            store,
            slug,
            parse_pledge(pledge_data(i, firmness=FIRMNESS_CYCLE[i % 3], **extra)),
        )
        ids.append(outcome.pledge_id)
    return ids


def assert_journal_as_if_one_by_one(events: list[Event]) -> None:
    """Each milestone and the tipping come right after the pledge that crossed it: the
    `pledge.confirmed` events before it number exactly the count it reports. (Within one
    process's batches; transactions of several processes take event ids before the
    campaign's lock, so theirs interleave.)"""
    seen = 0
    checked = 0
    for event in events:
        if event.type == "pledge.confirmed":
            seen += 1
        elif event.type in ("campaign.milestone", "campaign.tipped"):
            assert event.payload["confirmed"] == seen, event
            checked += 1
    assert checked, "no milestone or tipping to check"


async def test_a_spike_of_confirmations_is_written_in_batches_exactly(store: Store) -> None:
    campaign = await make_campaign(store, target=100)
    ids = await pending(store, campaign.slug, 200)
    queue = confirmation_queue(store)
    queue.batch_sizes.clear()

    outcomes = await asyncio.gather(*(confirm_pledge(store, i) for i in ids))

    assert max(queue.batch_sizes) > 1  # they were batched, not one transaction each
    assert sum(size * n for size, n in queue.batch_sizes.items()) == 200
    assert all(o.newly_confirmed for o in outcomes)
    # Each saw the count at its own confirmation, as one by one.
    assert sorted(o.progress.confirmed for o in outcomes) == list(range(1, 201))
    assert [o.progress.status for o in outcomes if o.progress.confirmed < 100] == ["open"] * 99
    assert {o.progress.status for o in outcomes if o.progress.confirmed >= 100} == {"tipped"}
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed) == ("tipped", 200)
    assert after.firmness_counts == dict(Counter(FIRMNESS_CYCLE[i % 3] for i in range(200)))
    events = await events_for_campaign(store.database, campaign.id)
    types = Counter(e.type for e in events)
    assert types["pledge.confirmed"] == 200
    assert types["campaign.tipped"] == 1
    assert sorted(e.payload["percent"] for e in events if e.type == "campaign.milestone") == [
        25,
        50,
        75,
    ]
    assert_journal_as_if_one_by_one(events)
    confirmed = [e.payload["pledge_id"] for e in events if e.type == "pledge.confirmed"]
    assert sorted(confirmed) == sorted(ids)


async def test_one_batch_across_campaigns_and_kinds_answers_each_as_alone(store: Store) -> None:
    """A batch holding two plain campaigns, a campaign with a price question, a withdrawn
    pledge and a pledge confirmed twice: each caller gets what it would have alone."""
    first = await make_campaign(store, target=3, milestones=[])
    second = await make_campaign(store, target=50)
    priced = await make_campaign(
        store,
        target=2,
        price_question={"currency": "gbp", "period": "month", "price_points": [2000, 2500]},
    )
    first_ids = await pending(store, first.slug, 5)
    second_ids = await pending(store, second.slug, 4, start=10)
    priced_ids = await pending(store, priced.slug, 2, start=20, max_price=2500)
    [withdrawn] = await pending(store, second.slug, 1, start=30)
    await withdraw_pledge(store, withdrawn)
    queue = confirmation_queue(store)
    queue.batch_sizes.clear()
    calls = [*first_ids, *second_ids, *priced_ids, first_ids[0], withdrawn]

    outcomes = await asyncio.gather(
        *(confirm_pledge(store, i) for i in calls), return_exceptions=True
    )

    assert max(queue.batch_sizes) > 1
    *counted, again, refused = outcomes
    assert isinstance(refused, PledgeWithdrawn)
    assert not isinstance(again, BaseException) and not again.newly_confirmed
    assert all(not isinstance(o, BaseException) and o.newly_confirmed for o in counted)
    by_campaign: dict[str, list[int]] = {}
    for o in counted:
        assert not isinstance(o, BaseException)
        by_campaign.setdefault(o.progress.slug, []).append(o.progress.confirmed)
    assert sorted(by_campaign[first.slug]) == [1, 2, 3, 4, 5]
    assert sorted(by_campaign[second.slug]) == [1, 2, 3, 4]
    assert sorted(by_campaign[priced.slug]) == [1, 2]
    for campaign, status, confirmed in ((first, "tipped", 5), (second, "open", 4)):
        after = await get_campaign(store.database, campaign.slug)
        assert (after.status, after.confirmed) == (status, confirmed)
    after = await get_campaign(store.database, priced.slug)
    assert (after.status, after.confirmed) == ("tipped", 2)
    [tipped] = [
        e
        for e in await events_for_campaign(store.database, first.id)
        if e.type == "campaign.tipped"
    ]
    assert tipped.payload["confirmed"] == 3


async def test_confirmations_batched_in_several_stores_tip_once_in_order(
    store: Store, database_url: str
) -> None:
    """Three Stores, as three processes would be, each batching its own confirmations of
    one campaign (and of one pledge, twice)."""
    campaign = await make_campaign(store, target=60)
    ids = await make_pending_pledges(store, campaign.slug, 150)
    others = [Store(database_url, group_commit=True) for _ in range(2)]
    for other in others:
        await other.connect()
    try:
        stores = [store, *others]
        outcomes = await asyncio.gather(
            *(confirm_pledge(stores[n % 3], i) for n, i in enumerate(ids + ids[:15]))
        )
        batched = [confirmation_queue(s).batch_sizes for s in stores]
    finally:
        for other in others:
            await other.disconnect()
    assert any(max(sizes) > 1 for sizes in batched)
    assert sum(o.newly_confirmed for o in outcomes) == 150
    assert sorted(o.progress.confirmed for o in outcomes if o.newly_confirmed) == list(
        range(1, 151)
    )
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed) == ("tipped", 150)
    events = await events_for_campaign(store.database, campaign.id)
    assert Counter(e.type for e in events)["campaign.tipped"] == 1
    [tipped] = [e for e in events if e.type == "campaign.tipped"]
    assert tipped.payload["confirmed"] == 60


async def test_a_failed_batch_leaves_each_confirmation_to_its_caller(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = await make_campaign(store, target=10)
    ids = await make_pending_pledges(store, campaign.slug, 12)

    async def lost_connection(store: Store, pledge_ids: list[int]) -> dict[int, Any]:
        raise ConnectionResetError

    monkeypatch.setattr(group_commit, "_write_batch", lost_connection)
    outcomes = await asyncio.gather(*(confirm_pledge(store, i) for i in ids))

    assert all(o.newly_confirmed for o in outcomes)
    assert sorted(o.progress.confirmed for o in outcomes) == list(range(1, 13))
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed) == ("tipped", 12)
    events = await events_for_campaign(store.database, campaign.id)
    assert Counter(e.type for e in events)["pledge.confirmed"] == 12
