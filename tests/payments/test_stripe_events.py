"""Stripe's events, as Stripe sends them: twice, out of order, before or after Groundswell
recorded the same thing itself, and about objects that are not ours."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import sqlalchemy as sa

from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from pledges.campaigns import Campaign, get_campaign
from pledges.journal import events_for_campaign
from pledges.payments import charge_due, process_stripe_event
from pledges.pledging import confirm_pledge, get_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import pledges, stripe_events
from tests.factories import pledge_data
from tests.payments.conftest import DEPOSIT, make_money_campaign, make_money_pledge


async def _checkout_completed_at_stripe(
    fake: FakeStripe, gateway: StripeGateway, pledge_id: int
) -> dict[str, dict[str, Any]]:
    """The resident saved a card on Checkout; Groundswell has recorded nothing yet.
    Returns that session's events by type."""
    customer = await gateway.create_customer(
        email=f"p{pledge_id}@example.org", name="Resident", pledge_id=pledge_id
    )
    session = await gateway.setup_session(
        customer=customer,
        pledge_id=pledge_id,
        currency="gbp",
        success_url="http://testserver/done",
        cancel_url="http://testserver/cancel",
    )
    before = len(fake.events)
    fake.complete_session(session.id, "visa")
    return {e["type"]: e for e in fake.events[before:]}


async def _types(store: Store, campaign_id: int) -> list[str]:
    return [e.type for e in await events_for_campaign(store.database, campaign_id)]


async def _recorded(store: Store) -> dict[str, str]:
    rows = await store.database.fetch_all(sa.select(stripe_events))
    return {r["id"]: r["type"] for r in rows}


@pytest.mark.parametrize(
    "order",
    [
        ("setup_intent.succeeded", "checkout.session.completed"),
        ("checkout.session.completed", "setup_intent.succeeded"),
    ],
)
async def test_both_events_of_one_checkout_save_the_card_once_in_either_order(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway, order: tuple[str, str]
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, outcome.pledge_id)  # the email first: the card counts it
    events = await _checkout_completed_at_stripe(fake_stripe, gateway, outcome.pledge_id)

    first, second = (events[t] for t in order)
    assert await process_stripe_event(store, gateway, first) == "card_saved"
    assert await process_stripe_event(store, gateway, second) == "already"
    for event in (first, second):
        assert await process_stripe_event(store, gateway, event) == "duplicate"

    pledge = await get_pledge(store.database, outcome.pledge_id)
    assert (pledge.status, pledge.payment_status) == ("confirmed", "card_saved")
    types = await _types(store, campaign.id)
    assert types.count("pledge.card_saved") == 1
    assert types.count("pledge.confirmed") == 1
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (1, DEPOSIT)
    assert set(await _recorded(store)) == {first["id"], second["id"]}


async def test_an_event_after_the_return_page_saved_the_card_changes_nothing(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    # make_money_pledge records the card as the return page does.
    pledge_id = await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1)
    for event in fake_stripe.events:
        assert await process_stripe_event(store, gateway, event) in ("already", "ignored")
    types = await _types(store, campaign.id)
    assert types.count("pledge.card_saved") == 1
    assert (await get_pledge(store.database, pledge_id)).payment_status == "card_saved"
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (1, DEPOSIT)


async def _paid_campaign(
    store: Store, fake: FakeStripe, gateway: StripeGateway, *, record: bool
) -> tuple[Campaign, list[int], list[dict[str, Any]]]:
    """A tipped campaign charged at Stripe; recorded by the worker only if `record`."""
    campaign = await make_money_campaign(store)
    ids = [await make_money_pledge(store, fake, gateway, campaign.slug, i) for i in range(3)]
    if record:
        assert await charge_due(store, gateway) == 3
    else:
        for pledge_id in ids:
            result = await gateway.charge(
                pledge_id=pledge_id,
                customer=str(await _column(store, pledge_id, "stripe_customer_id")),
                payment_method=str(await _column(store, pledge_id, "stripe_payment_method_id")),
                amount=DEPOSIT,
                currency="gbp",
                description="Pledge",
            )
            assert result.succeeded
    succeeded = [e for e in fake.events if e["type"] == "payment_intent.succeeded"]
    assert len(succeeded) == 3
    return campaign, ids, succeeded


async def _column(store: Store, pledge_id: int, name: str) -> Any:
    return await store.database.fetch_val(
        sa.select(pledges.c[name]).where(pledges.c.id == pledge_id)
    )


async def test_payment_succeeded_after_the_worker_recorded_it_changes_nothing(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids, succeeded = await _paid_campaign(store, fake_stripe, gateway, record=True)
    for event in succeeded:
        assert await process_stripe_event(store, gateway, event) == "already"
        assert await process_stripe_event(store, gateway, event) == "duplicate"
    for pledge_id in ids:
        assert (await get_pledge(store.database, pledge_id)).payment_status == "paid"
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 3 * DEPOSIT
    assert (await _types(store, campaign.id)).count("payment.succeeded") == 3


async def test_payment_succeeded_before_the_worker_records_it_counts_once(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids, succeeded = await _paid_campaign(store, fake_stripe, gateway, record=False)
    # The event comes while the pledges wait to be charged: recorded as paid, so the
    # worker never claims them.
    for event in reversed(succeeded):
        assert await process_stripe_event(store, gateway, event) == "paid"
    assert await charge_due(store, gateway) == 0
    assert len(fake_stripe.charges()) == 3
    for event in succeeded:
        assert await process_stripe_event(store, gateway, event) == "duplicate"
    for pledge_id in ids:
        assert (await get_pledge(store.database, pledge_id)).payment_status == "paid"
    assert (await _types(store, campaign.id)).count("payment.succeeded") == 3
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 3 * DEPOSIT


@pytest.mark.parametrize(
    "order",
    [
        ("payment_intent.succeeded", "checkout.session.completed"),
        ("checkout.session.completed", "payment_intent.succeeded"),
    ],
)
async def test_paying_on_checkout_after_a_failed_charge_is_recorded_once_in_either_order(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway, order: tuple[str, str]
) -> None:
    campaign = await make_money_campaign(store)
    ids = [
        await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i, card=card)
        for i, card in enumerate(("visa", "visa", "declined"))
    ]
    await charge_due(store, gateway)
    assert (await get_pledge(store.database, ids[2])).payment_status == "action_required"

    # The resident follows the emailed link and pays on Checkout with another card.
    session = await gateway.payment_session(
        customer=str(await _column(store, ids[2], "stripe_customer_id")),
        pledge_id=ids[2],
        amount=DEPOSIT,
        currency="gbp",
        description="Pledge",
        success_url="http://testserver/done",
        cancel_url="http://testserver/pay",
    )
    before = len(fake_stripe.events)
    fake_stripe.complete_session(session.id, "visa")
    events = {e["type"]: e for e in fake_stripe.events[before:]}
    first, second = (events[t] for t in order)
    assert await process_stripe_event(store, gateway, first) == "paid"
    assert await process_stripe_event(store, gateway, second) == "already"

    assert (await get_pledge(store.database, ids[2])).payment_status == "paid"
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 3 * DEPOSIT
    assert (await _types(store, campaign.id)).count("payment.succeeded") == 3


async def test_a_redelivered_copy_of_an_event_is_a_duplicate(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    """Stripe retries with the same event id; a copy changed in transit is still the same
    event (it was verified by signature before this point)."""
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    events = await _checkout_completed_at_stripe(fake_stripe, gateway, outcome.pledge_id)
    event = events["setup_intent.succeeded"]
    copy_of = json.loads(json.dumps(event))
    assert await process_stripe_event(store, gateway, event) == "card_saved"
    assert await process_stripe_event(store, gateway, copy_of) == "duplicate"
    assert (await _types(store, campaign.id)).count("pledge.card_saved") == 1


async def test_an_event_for_an_unknown_pledge_is_ignored_and_recorded(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    events = await _checkout_completed_at_stripe(fake_stripe, gateway, outcome.pledge_id)

    unknown = copy.deepcopy(events["setup_intent.succeeded"])
    unknown["id"] = "evt_unknown_pledge"
    unknown["data"]["object"]["metadata"] = {"pledge_id": "987654321"}
    not_ours = copy.deepcopy(events["checkout.session.completed"])
    not_ours["id"] = "evt_not_ours"
    not_ours["data"]["object"]["metadata"] = {}
    other_type = copy.deepcopy(events["setup_intent.succeeded"])
    other_type["id"] = "evt_customer_updated"
    other_type["type"] = "customer.updated"

    for event in (unknown, not_ours, other_type):
        assert await process_stripe_event(store, gateway, event) == "ignored"
        assert await process_stripe_event(store, gateway, event) == "duplicate"
    recorded = await _recorded(store)
    assert recorded == {
        "evt_unknown_pledge": "setup_intent.succeeded",
        "evt_not_ours": "checkout.session.completed",
        "evt_customer_updated": "customer.updated",
    }
    # Nothing happened to the real pledge.
    pledge = await get_pledge(store.database, outcome.pledge_id)
    assert pledge.payment_status == "awaiting_card"
    assert "pledge.card_saved" not in await _types(store, campaign.id)


async def test_something_that_is_not_an_event_is_refused(
    store: Store, gateway: StripeGateway
) -> None:
    for bad in ({}, {"id": "evt_1"}, {"id": "evt_1", "data": {"object": "x"}}):
        with pytest.raises(ValueError):
            await process_stripe_event(store, gateway, bad)
    assert await _recorded(store) == {}
