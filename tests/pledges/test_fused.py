"""The one-statement writes of pledges.fused (PostgreSQL) store exactly what the general
path stores, and are taken where they apply; SQLite, without them, stores the same."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from pledges import fused
from pledges.errors import CampaignNotFound
from pledges.journal import events_for_campaign
from pledges.pledging import parse_pledge, record_pledge
from pledges.rate_limits import RateWindow
from pledges.store import Store
from pledges.tables import pledges
from tests.factories import make_campaign, pledge_data

# What differs between two pledges of different people made one after the other.
OWN_COLUMNS = {"id", "name", "email", "email_canonical", "created_at"}


class Spy:
    """Wraps fused.record_pending_pledge: what each call answered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, general: bool = False) -> None:
        self.answers: list[int | None] = []
        real = fused.record_pending_pledge

        async def spied(db: Any, values: dict[str, Any]) -> int | None:
            answer = None if general else await real(db, values)
            self.answers.append(answer)
            return answer

        monkeypatch.setattr(fused, "record_pending_pledge", spied)


async def stored(store: Store, pledge_id: int) -> dict[str, Any]:
    row = await store.database.fetch_one(sa.select(pledges).where(pledges.c.id == pledge_id))
    assert row is not None
    return {k: v for k, v in dict(row._mapping).items() if k not in OWN_COLUMNS}


async def test_a_pending_pledge_is_stored_alike_by_either_path(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = await make_campaign(store, target=10)
    extra = {"firmness": "will_switch", "address_line": "12 Brudenell Road", "show_name": True}
    limit = (RateWindow(5, 60),)

    with monkeypatch.context() as patched:
        spy = Spy(patched)
        one = await record_pledge(
            store,
            campaign.slug,
            parse_pledge(pledge_data(1, **extra)),
            ip="203.0.113.7",
            rate_limit=limit,
        )
    with monkeypatch.context() as patched:
        general = Spy(patched, general=True)
        other = await record_pledge(
            store,
            campaign.slug,
            parse_pledge(pledge_data(2, **extra)),
            ip="203.0.113.7",
            rate_limit=limit,
        )

    if store.is_sqlite:
        assert spy.answers == [] and general.answers == []
    else:
        assert spy.answers == [one.pledge_id]  # written by the one statement
        assert general.answers == [None]  # left to the general path
    assert (one.status, other.status) == ("pending", "pending")
    assert await stored(store, one.pledge_id) == await stored(store, other.pledge_id)
    created = [
        e.payload
        for e in await events_for_campaign(store.database, campaign.id)
        if e.type == "pledge.created"
    ]
    assert created == [{"pledge_id": one.pledge_id}, {"pledge_id": other.pledge_id}]


async def test_a_pending_pledge_elsewhere_is_left_to_the_general_path(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A price question, a repeated email: the statement writes nothing, the general path
    answers (a repeat's answer), and the rate limit counts the same pledges either way."""
    priced = await make_campaign(
        store,
        target=2,
        price_question={"currency": "gbp", "period": "month", "price_points": [2000, 2500]},
    )
    plain = await make_campaign(store, target=2)
    spy = Spy(monkeypatch)

    on_priced = await record_pledge(
        store, priced.slug, parse_pledge(pledge_data(1, max_price=2500)), ip="203.0.113.9"
    )
    first = await record_pledge(store, plain.slug, parse_pledge(pledge_data(2)), ip="203.0.113.8")
    again = await record_pledge(store, plain.slug, parse_pledge(pledge_data(2)))

    assert not on_priced.repeated and not first.repeated
    assert again.repeated and again.pledge_id == first.pledge_id
    if store.is_sqlite:
        assert spy.answers == []
    else:
        assert spy.answers == [None, first.pledge_id, None]
    prices = await store.database.fetch_all(
        sa.select(pledges.c.max_price).where(pledges.c.campaign_id == priced.id)
    )
    assert [r["max_price"] for r in prices] == [2500]


async def test_a_slug_with_a_nul_byte_is_not_found_by_either_path(store: Store) -> None:
    """PostgreSQL refuses the byte in text: the one statement is not tried with it."""
    await make_campaign(store, target=2)
    with pytest.raises(CampaignNotFound):
        await record_pledge(store, "nul\x00byte", parse_pledge(pledge_data(1)), ip="203.0.113.7")
