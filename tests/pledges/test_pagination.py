"""Cursor pagination: every item on exactly one page, in the list's order, also while new
rows arrive between pages; a cursor Groundswell did not give is a 422 naming `cursor`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pledges.campaigns import campaigns_page, list_campaigns
from pledges.errors import ValidationFailed
from pledges.pagination import decode_cursor, encode_cursor
from pledges.pledge_rows import pledges_page
from pledges.store import Store, utcnow
from tests.factories import make_campaign, make_confirmed_pledge, make_pending_pledges


def _deadline(days: int) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


async def test_campaign_pages_hold_every_campaign_once_in_order(store: Store) -> None:
    # Deadlines repeat, so the order within one deadline (by id) is paged too.
    for i in range(7):
        await make_campaign(store, deadline=_deadline(10 + i % 3))
    every = await list_campaigns(store.database)

    seen, cursor, pages = [], None, 0
    while True:
        page = await campaigns_page(store.database, limit=3, cursor=cursor)
        seen += page.items
        pages += 1
        if page.next is None:
            break
        cursor = page.next

    assert [c.id for c in seen] == [c.id for c in every]
    assert pages == 3


async def test_campaigns_created_between_pages_shift_nothing(store: Store) -> None:
    for i in range(4):
        await make_campaign(store, deadline=_deadline(20 + i))
    first = await campaigns_page(store.database, limit=2)
    # One sorts before the cursor, one after: neither moves an item already listed.
    early = await make_campaign(store, deadline=_deadline(5))
    late = await make_campaign(store, deadline=_deadline(40))
    rest = await campaigns_page(store.database, limit=10, cursor=first.next)

    ids = [c.id for c in first.items + rest.items]
    assert len(ids) == len(set(ids)) == 5
    assert early.id not in ids and late.id in ids
    assert rest.next is None


async def test_campaign_pages_keep_the_filters(store: Store) -> None:
    for _ in range(3):
        await make_campaign(store, category="waste")
    await make_campaign(store, category="broadband")
    page = await campaigns_page(store.database, category="waste", limit=2)
    rest = await campaigns_page(store.database, category="waste", limit=2, cursor=page.next)
    assert [c.category for c in page.items + rest.items] == ["waste"] * 3
    assert rest.next is None


async def test_pledge_pages_hold_every_pledge_once(store: Store) -> None:
    campaign = await make_campaign(store)
    other = await make_campaign(store)
    await make_pending_pledges(store, campaign.slug, 4)
    await make_confirmed_pledge(store, campaign.slug, i=10)
    await make_pending_pledges(store, other.slug, 2, start=20)

    first = await pledges_page(store.database, campaign, limit=3)
    rest = await pledges_page(store.database, campaign, limit=3, cursor=first.next)

    ids = [row["id"] for row in first.items + rest.items]
    assert len(ids) == 5 and ids == sorted(ids)
    assert rest.next is None
    assert {row["status"] for row in first.items + rest.items} == {"pending", "confirmed"}


@pytest.mark.parametrize(
    "cursor",
    ["", "not base64 at all!", encode_cursor(["x"]), encode_cursor([1, 2]), "W10", "bnVsbA"],
)
def test_a_cursor_groundswell_did_not_give_names_the_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        decode_cursor(cursor, (int,))
    assert [e.field for e in raised.value.errors] == ["cursor"]


async def test_a_campaign_cursor_with_a_bad_date_names_the_cursor(store: Store) -> None:
    with pytest.raises(ValidationFailed) as raised:
        await campaigns_page(store.database, cursor=encode_cursor(["yesterday", 3]))
    assert [e.field for e in raised.value.errors] == ["cursor"]


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor(["2027-01-01T00:00:00+00:00", 7]), (str, int)) == (
        "2027-01-01T00:00:00+00:00",
        7,
    )
