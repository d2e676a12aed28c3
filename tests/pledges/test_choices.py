"""Offers and the choice round in the domain: fixed once the round opens, counted exactly
under concurrent choices and changes of mind, closed once, contacts only after the close."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from pledges.accounts import Organisation, create_organisation_api_key
from pledges.campaigns import Campaign, get_campaign
from pledges.choices import (
    NONE_OF_THESE,
    ChoiceInput,
    choice_for_pledge,
    choose,
    choosers_for_provider,
    close_due_rounds,
    close_round,
    counted_choices,
    get_round,
    open_due_rounds,
    open_round,
    parse_choice,
    parse_closing,
    round_results,
)
from pledges.errors import NotFound, ValidationFailed, WrongState
from pledges.journal import events_for_campaign
from pledges.offers import (
    edit_offer,
    fair_order,
    get_offer,
    list_offers,
    parse_offer,
    post_offer,
    withdraw_offer,
)
from pledges.pledging import withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import offers
from tests.factories import make_campaign, make_confirmed_pledge
from tests.pledges.test_households import _pledge, address


def offer_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Full fibre 900",
        "description": "900 Mb/s both ways.\n\nNo price rise during the term.",
        "price": 3000,
        "period": "month",
        "setup_fee": 0,
        "minimum_term_months": 12,
        "available_from": "2027-04-01",
        "valid_until": (utcnow() + timedelta(days=120)).date().isoformat(),
        "social_tariff": {"price": 1500, "who_qualifies": "Households on Universal Credit."},
    }
    data.update(overrides)
    return data


async def provider(store: Store, name: str) -> Organisation:
    org, _ = await create_organisation_api_key(store, f"ops@{name}.example", name, "provider")
    return org


async def tipped_campaign(
    store: Store, pledgers: int, **overrides: Any
) -> tuple[Campaign, list[int]]:
    campaign = await make_campaign(store, target=2, **overrides)
    ids = [
        await make_confirmed_pledge(store, campaign.slug, i, share_contact=i % 2 == 0)
        for i in range(pledgers)
    ]
    return await get_campaign(store.database, campaign.slug), ids


async def two_offers(store: Store, campaign: Campaign) -> tuple[Any, Any]:
    north = await post_offer(
        store, campaign, (await provider(store, "Northnet")).id, parse_offer(offer_data())
    )
    south = await post_offer(
        store,
        campaign,
        (await provider(store, "Southfibre")).id,
        parse_offer(
            offer_data(price=2500, social_tariff=None, no_social_tariff="We have none yet.")
        ),
    )
    return north, south


# --- offers ------------------------------------------------------------------------------


def test_an_offer_says_what_it_does_for_households_on_low_incomes() -> None:
    with pytest.raises(ValidationFailed) as neither:
        parse_offer(offer_data(social_tariff=None))
    assert [e.field for e in neither.value.errors] == ["social_tariff"]
    with pytest.raises(ValidationFailed) as both:
        parse_offer(offer_data(no_social_tariff="None."))
    assert [e.field for e in both.value.errors] == ["no_social_tariff"]
    with pytest.raises(ValidationFailed) as dearer:
        parse_offer(offer_data(social_tariff={"price": 4000, "who_qualifies": "Anyone."}))
    assert [(e.field, e.code) for e in dearer.value.errors] == [
        ("social_tariff.price", "above_price")
    ]
    statement = parse_offer(offer_data(social_tariff=None, no_social_tariff="We have none."))
    assert (statement.social_tariff, statement.no_social_tariff) == (None, "We have none.")


def test_every_problem_with_an_offer_is_named_by_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_offer(
            offer_data(
                title="",
                price=-1,
                period="week",
                minimum_term_months=500,
                valid_until="2000-01-01",
                colour="red",
            )
        )
    assert {e.field for e in caught.value.errors} == {
        "title",
        "price",
        "period",
        "minimum_term_months",
        "valid_until",
        "colour",
    }


def test_offers_of_one_price_are_ordered_by_their_random_keys_not_by_who_posted_first() -> None:
    base = parse_offer(offer_data())
    del base
    made = []
    for n, (price, key) in enumerate([(3000, "c"), (2500, "z"), (3000, "a"), (3000, "b")]):
        made.append(_offer_like(n, price, key))
    assert [(o.price, o.shuffle_key) for o in fair_order(made)] == [
        (2500, "z"),
        (3000, "a"),
        (3000, "b"),
        (3000, "c"),
    ]


def _offer_like(n: int, price: int, key: str) -> Any:
    from pledges.offers import Offer

    now = utcnow()
    return Offer(
        n, f"off_{n}", 1, 1, "Org", "T", "D", "gbp", price, "month", 0, 0, None, None,
        None, "None.", "published", None, None, key, 0, 0, 0, now, now,
    )  # fmt: skip


async def test_an_offer_is_editable_until_the_round_opens_then_fixed(store: Store) -> None:
    campaign, _ = await tipped_campaign(store, 3)
    org = await provider(store, "Northnet")
    offer = await post_offer(store, campaign, org.id, parse_offer(offer_data()))
    edited = await edit_offer(store, campaign, org.id, offer.public_id, {"price": 2800})
    assert (edited.price, edited.title) == (2800, offer.title)

    await open_round(store, campaign.id, utcnow() + timedelta(days=10))

    with pytest.raises(WrongState):
        await edit_offer(store, campaign, org.id, offer.public_id, {"price": 100})
    with pytest.raises(WrongState):
        await post_offer(store, campaign, org.id, parse_offer(offer_data()))
    assert (await get_offer(store.database, campaign.id, offer.public_id)).price == 2800
    assert len(await list_offers(store.database, campaign.id)) == 1


async def test_a_provider_cannot_edit_or_withdraw_another_providers_offer(store: Store) -> None:
    campaign, _ = await tipped_campaign(store, 2)
    north, _ = await two_offers(store, campaign)
    other = await provider(store, "Eastlink")
    with pytest.raises(NotFound):
        await edit_offer(store, campaign, other.id, north.public_id, {"price": 1})
    with pytest.raises(NotFound):
        await withdraw_offer(store, campaign, other.id, north.public_id, "Mine now.")
    assert (await get_offer(store.database, campaign.id, north.public_id)).price == 3000


async def test_a_round_opens_only_on_a_tipped_campaign_with_offers_and_only_once(
    store: Store,
) -> None:
    campaign, _ = await tipped_campaign(store, 2)
    with pytest.raises(WrongState):
        await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    await two_offers(store, campaign)
    opened = await asyncio.gather(
        *(open_round(store, campaign.id, utcnow() + timedelta(days=10)) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(o, Exception) for o in opened) == 1
    assert all(isinstance(o, WrongState) for o in opened if isinstance(o, Exception))
    events = [e for e in await events_for_campaign(store.database, campaign.id)]
    opened_events = [e for e in events if e.type == "campaign.choice_opened"]
    assert len(opened_events) == 1
    assert [o["price"] for o in opened_events[0].payload["offers"]] == [2500, 3000]


def test_the_closing_date_leaves_residents_time_and_is_not_far_off() -> None:
    now = utcnow()
    assert parse_closing({}, now) == now + timedelta(days=14)
    for value in ("tomorrow", (now + timedelta(days=1)).isoformat(), "2099-01-01"):
        with pytest.raises(ValidationFailed) as caught:
            parse_closing({"closes_at": value}, now)
        assert caught.value.errors[0].field == "closes_at"


# --- choosing ----------------------------------------------------------------------------


async def test_choosing_changing_and_withdrawing_move_every_counter(store: Store) -> None:
    campaign, ids = await tipped_campaign(store, 4)
    north, south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))

    await choose(store, ids[0], ChoiceInput(north.public_id, True, None))
    await choose(store, ids[1], ChoiceInput(north.public_id, False, None))
    await choose(store, ids[2], ChoiceInput(NONE_OF_THESE, True, None))
    await choose(store, ids[1], ChoiceInput(south.public_id, False, True))  # changes her mind
    mine = await choice_for_pledge(store.database, ids[1])
    assert mine is not None and (mine.offer_public_id, mine.share_contact) == (
        south.public_id,
        True,
    )
    await withdraw_pledge(store, ids[0])  # her choice goes with her pledge

    results = await round_results(store.database, campaign.id)
    assert results is not None
    totals = {t.offer.public_id: (t.chosen, t.social_tariff) for t in results.offers}
    assert totals == {north.public_id: (0, 0), south.public_id: (1, 0)}
    assert (results.round.chose_count, results.round.none_count) == (1, 1)
    assert results.round.social_tariff_count == 1
    oracle = await counted_choices(store.database, campaign.id)
    assert (oracle["chose"], oracle["none"], oracle["social_tariff"]) == (1, 1, 1)


async def test_a_choice_needs_an_open_round_a_real_offer_and_a_standing_pledge(
    store: Store,
) -> None:
    campaign, ids = await tipped_campaign(store, 3)
    north, south = await two_offers(store, campaign)
    with pytest.raises(WrongState):
        await choose(store, ids[0], ChoiceInput(north.public_id, False, None))
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    with pytest.raises(ValidationFailed) as unknown:
        await choose(store, ids[0], ChoiceInput("off_nothing", False, None))
    assert unknown.value.errors[0].field == "offer"
    await withdraw_offer(store, campaign, south.organisation_id, south.public_id, "No capacity.")
    with pytest.raises(ValidationFailed) as withdrawn:
        await choose(store, ids[0], ChoiceInput(south.public_id, False, None))
    assert withdrawn.value.errors[0].code == "offer_withdrawn"
    await withdraw_pledge(store, ids[1])
    with pytest.raises(WrongState):
        await choose(store, ids[1], ChoiceInput(north.public_id, False, None))
    await close_round(store, campaign.id)
    with pytest.raises(WrongState):
        await choose(store, ids[0], ChoiceInput(north.public_id, False, None))
    assert await counted_choices(store.database, campaign.id) == {
        "chose": 0,
        "none": 0,
        "social_tariff": 0,
        "offers": {},
    }


def test_a_choice_is_parsed_with_every_problem_named() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_choice({"needs_social_tariff": "yes", "share_contact": 1})
    assert {e.field for e in caught.value.errors} == {
        "offer",
        "needs_social_tariff",
        "share_contact",
    }
    assert parse_choice({"offer": "none"}) == ChoiceInput("none", False, None)


async def test_a_household_chooses_once_whichever_of_its_pledgers_chooses(store: Store) -> None:
    from pledges.pledging import confirm_pledge

    campaign = await make_campaign(store, counts="households", target=2)
    ids = [await _pledge(store, campaign.slug, i, address(i % 2, i // 2)) for i in range(4)]
    for i in ids:
        await confirm_pledge(store, i)
    campaign = await get_campaign(store.database, campaign.slug)
    north, south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))

    await choose(store, ids[0], ChoiceInput(north.public_id, False, None))
    await choose(store, ids[2], ChoiceInput(south.public_id, False, None))  # same home
    await choose(store, ids[1], ChoiceInput(south.public_id, False, None))

    results = await round_results(store.database, campaign.id)
    assert results is not None
    assert {t.offer.public_id: t.chosen for t in results.offers} == {
        north.public_id: 0,
        south.public_id: 2,
    }
    seen_by_housemate = await choice_for_pledge(store.database, ids[0])
    assert seen_by_housemate is not None and seen_by_housemate.offer_public_id == south.public_id


async def test_thirty_pledgers_choosing_and_changing_their_minds_at_once_count_exactly(
    store: Store, database_url: str
) -> None:
    campaign, ids = await tipped_campaign(store, 30)
    north, south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    options = [north.public_id, south.public_id, NONE_OF_THESE]
    rng = random.Random(13)
    # Each pledger makes one to three choices; some are sent twice at once.
    plan = [
        (i, options[rng.randrange(3)], rng.random() < 0.3)
        for i in ids
        for _ in range(rng.randint(1, 3))
    ]
    others = [Store(database_url) for _ in range(2)]
    for other in others:
        await other.connect()
    try:
        stores = [store, *others]
        await asyncio.gather(
            *(
                choose(stores[n % 3], pledge_id, ChoiceInput(offer, needs, None))
                for n, (pledge_id, offer, needs) in enumerate(plan + plan[::7])
            )
        )
        # And a few withdraw while others still choose.
        await asyncio.gather(
            *(withdraw_pledge(stores[n % 3], i) for n, i in enumerate(ids[:3])),
            *(
                choose(stores[n % 3], i, ChoiceInput(north.public_id, False, None))
                for n, i in enumerate(ids[3:9])
            ),
        )
    finally:
        for other in others:
            await other.disconnect()

    oracle = await counted_choices(store.database, campaign.id)
    current = await get_round(store.database, campaign.id)
    assert current is not None
    assert (current.chose_count, current.none_count, current.social_tariff_count) == (
        oracle["chose"],
        oracle["none"],
        oracle["social_tariff"],
    )
    assert current.chose_count + current.none_count == 27  # 30 chose, 3 withdrew
    rows = await store.database.fetch_all(
        sa.select(offers.c.id, offers.c.chosen_count, offers.c.social_tariff_count).where(
            offers.c.campaign_id == campaign.id
        )
    )
    for row in rows:
        expected = oracle["offers"].get(row["id"], [0, 0])
        assert [row["chosen_count"], row["social_tariff_count"]] == expected


# --- closing -----------------------------------------------------------------------------


async def test_the_round_closes_once_with_results_for_everyone_and_totals_for_each_provider(
    store: Store,
) -> None:
    campaign, ids = await tipped_campaign(store, 12)
    north, south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    for n, i in enumerate(ids):
        offer = [north.public_id, south.public_id, NONE_OF_THESE][n % 3]
        await choose(store, i, ChoiceInput(offer, n < 6, None))

    with pytest.raises(WrongState):
        await choosers_for_provider(store.database, campaign.id, north.organisation_id)
    closed = await asyncio.gather(*(close_round(store, campaign.id) for _ in range(4)))
    assert closed.count(True) == 1

    events = await events_for_campaign(store.database, campaign.id)
    [results] = [e for e in events if e.type == "campaign.choice_closed"]
    chosen = [e for e in events if e.type == "offer.chosen"]
    assert {e.payload["organisation_id"] for e in chosen} == {
        north.organisation_id,
        south.organisation_id,
    }
    assert len(chosen) == 2
    for event in chosen:
        [own] = event.payload["offers"]
        assert own["chosen"] == 4
        assert own["id"] in (north.public_id, south.public_id)
    assert results.payload["results"]["chose_an_offer"] == 8
    assert results.payload["results"]["none_of_these"] == 4
    # Six said they would need a social tariff: shown as open data shows a count.
    assert results.payload["results"]["social_tariff_needed"] == 5
    assert {o["social_tariff_needed"] for o in results.payload["results"]["offers"]} == {None}

    # Contacts: only this provider's choosers who agreed to be contacted.
    north_contacts = await choosers_for_provider(store.database, campaign.id, north.organisation_id)
    assert {c.offer_public_id for c in north_contacts} == {north.public_id}
    expected = [f"Resident {n}" for n in range(12) if n % 3 == 0 and n % 2 == 0]
    assert [c.name for c in north_contacts] == expected


async def test_the_worker_opens_a_round_two_weeks_after_the_first_offer_and_closes_it(
    store: Store,
) -> None:
    campaign, _ids = await tipped_campaign(store, 2)
    await two_offers(store, campaign)
    assert await open_due_rounds(store) == []
    later = utcnow() + timedelta(days=14, minutes=1)
    assert await open_due_rounds(store, later) == [campaign.id]
    assert await open_due_rounds(store, later) == []
    current = await get_round(store.database, campaign.id)
    assert current is not None and current.opened_by == "auto"
    assert await close_due_rounds(store, later + timedelta(days=13)) == []
    assert await close_due_rounds(store, later + timedelta(days=14, minutes=1)) == [campaign.id]
    current = await get_round(store.database, campaign.id)
    assert current is not None and current.closed_at is not None


async def test_a_provider_may_have_three_offers_on_a_campaign_at_once(store: Store) -> None:
    campaign, _ = await tipped_campaign(store, 2)
    org = await provider(store, "Northnet")
    posted = [
        await post_offer(store, campaign, org.id, parse_offer(offer_data(price=2000 + n)))
        for n in range(3)
    ]
    with pytest.raises(WrongState):
        await post_offer(store, campaign, org.id, parse_offer(offer_data()))
    assert len(await list_offers(store.database, campaign.id)) == 3
    await withdraw_offer(store, campaign, org.id, posted[0].public_id, "Replaced.")
    await post_offer(store, campaign, org.id, parse_offer(offer_data()))
    assert len(await list_offers(store.database, campaign.id)) == 4
