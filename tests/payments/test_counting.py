"""A money pledge counts once its email is confirmed and its card saved, in either order,
exactly once; its amount moves on the campaign with it, and tipping needs every target."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from notifications.outbox import scrub_pledge_mail
from pledges.campaigns import get_campaign
from pledges.erasure import erase_resident
from pledges.identity import canonical_email
from pledges.journal import events_for_campaign
from pledges.moderation import invalidate_pledges
from pledges.payments import record_card_saved
from pledges.pledging import (
    confirm_pledge,
    get_pledge,
    parse_pledge,
    record_pledge,
    withdraw_pledge,
)
from pledges.store import Store
from tests.factories import pledge_data
from tests.payments.conftest import DEPOSIT, make_money_campaign, make_money_pledge, save_card


async def _event_types(store: Store, campaign_id: int) -> list[str]:
    return [e.type for e in await events_for_campaign(store.database, campaign_id)]


async def test_email_then_card_counts_once_the_card_is_saved(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    assert (outcome.payment_status, outcome.amount) == ("awaiting_card", DEPOSIT)

    confirmed = await confirm_pledge(store, outcome.pledge_id)
    assert confirmed.awaiting_card and not confirmed.newly_confirmed
    pledge = await get_pledge(store.database, outcome.pledge_id)
    assert pledge.status == "pending" and pledge.email_confirmed_at is not None
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (0, 0)

    await save_card(fake_stripe, gateway, store, outcome.pledge_id)
    pledge = await get_pledge(store.database, outcome.pledge_id)
    assert (pledge.status, pledge.payment_status) == ("confirmed", "card_saved")
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (1, DEPOSIT)

    # Clicking the link again changes nothing.
    again = await confirm_pledge(store, outcome.pledge_id)
    assert not again.newly_confirmed and not again.awaiting_card
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (1, DEPOSIT)
    assert (await _event_types(store, campaign.id)).count("pledge.confirmed") == 1


async def test_card_then_email_counts_once_the_email_is_confirmed(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await save_card(fake_stripe, gateway, store, outcome.pledge_id)
    pledge = await get_pledge(store.database, outcome.pledge_id)
    assert (pledge.status, pledge.payment_status) == ("pending", "card_saved")
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (0, 0)

    confirmed = await confirm_pledge(store, outcome.pledge_id)
    assert confirmed.newly_confirmed and not confirmed.awaiting_card
    assert (confirmed.progress.confirmed, confirmed.progress.pledged_amount) == (1, DEPOSIT)

    # Saving the card again (a second return from Checkout) changes nothing.
    again = await record_card_saved(store, outcome.pledge_id, None, "pm_other")
    assert not again.newly_saved and not again.counted
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (1, DEPOSIT)
    assert (await _event_types(store, campaign.id)).count("pledge.confirmed") == 1


async def test_chosen_amounts_add_up_exactly_and_withdrawing_takes_one_off(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(
        store,
        target=10,
        money={"currency": "gbp", "target": 100_000, "min": 500, "max": 50_000},
    )
    amounts = [1234, 501, 50_000, 999]
    ids = [
        await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i, amount=amount)
        for i, amount in enumerate(amounts)
    ]
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (4, sum(amounts))
    assert [(await get_pledge(store.database, i)).amount for i in ids] == amounts

    progress = await withdraw_pledge(store, ids[2])
    assert (progress.confirmed, progress.pledged_amount) == (3, sum(amounts) - 50_000)
    # A second withdrawal of the same pledge takes nothing more off.
    await withdraw_pledge(store, ids[2])
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (3, sum(amounts) - 50_000)


async def test_withdrawing_an_uncounted_money_pledge_takes_nothing_off(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1)
    waiting = await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 2, confirm=False)
    await withdraw_pledge(store, waiting)
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (1, DEPOSIT)


async def test_erasure_takes_the_amount_off(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 2)
    assert (
        await erase_resident(
            store, canonical_email("resident2@example.org"), scrub_mail=scrub_pledge_mail
        )
        == 1
    )
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (1, DEPOSIT)


async def test_invalidation_takes_the_amounts_off(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(
        store, target=10, money={"currency": "gbp", "min": 500, "max": 5000}
    )
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1, amount=700)
    for i in (2, 3):
        await make_money_pledge(
            store,
            fake_stripe,
            gateway,
            campaign.slug,
            i,
            amount=1000 * i,
            email=f"bot{i}@spam.example",
        )
    # One struck out before it counted: nothing of it was on the campaign.
    await make_money_pledge(
        store,
        fake_stripe,
        gateway,
        campaign.slug,
        4,
        amount=4000,
        email="bot4@spam.example",
        confirm=False,
    )
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (3, 700 + 2000 + 3000)

    result = await invalidate_pledges(store, email_domain="spam.example")
    assert result.by_status == {"confirmed": 2, "pending": 1}
    found = await get_campaign(store.database, campaign.slug)
    assert (found.confirmed, found.pledged_amount) == (1, 700)


async def test_tipping_needs_the_money_target_as_well_as_the_count(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    # 2 households, but £60 at £20 each: the count is reached first.
    campaign = await make_money_campaign(
        store, target=2, money={"currency": "gbp", "target": 6000, "deposit": DEPOSIT}
    )
    for i in (1, 2):
        await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i)
    found = await get_campaign(store.database, campaign.slug)
    assert (found.status, found.confirmed, found.pledged_amount) == ("open", 2, 4000)
    assert found.percent == 66
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 3)
    found = await get_campaign(store.database, campaign.slug)
    assert found.status == "tipped"
    assert (await _event_types(store, campaign.id)).count("campaign.tipped") == 1


async def test_tipping_needs_the_count_as_well_as_the_money(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    # £40 is reached by 2 pledges, but 3 households are needed.
    campaign = await make_money_campaign(
        store, target=3, money={"currency": "gbp", "target": 4000, "deposit": DEPOSIT}
    )
    for i in (1, 2):
        await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i)
    assert (await get_campaign(store.database, campaign.slug)).status == "open"
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 3)
    assert (await get_campaign(store.database, campaign.slug)).status == "tipped"


async def test_a_money_only_campaign_tips_on_money_alone(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(
        store, target=None, money={"currency": "gbp", "target": 5000, "min": 1000, "max": 5000}
    )
    assert campaign.target == 0 and campaign.public_payload()["target"] is None
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1, amount=2500)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 2, amount=2499)
    found = await get_campaign(store.database, campaign.slug)
    assert (found.status, found.pledged_amount, found.percent) == ("open", 4999, 99)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 3, amount=1000)
    found = await get_campaign(store.database, campaign.slug)
    assert (found.status, found.confirmed, found.pledged_amount) == ("tipped", 3, 5999)


async def _card_at_stripe(fake: FakeStripe, gateway: StripeGateway, pledge_id: int) -> str:
    """Checkout completed at Stripe for this pledge; Groundswell has not recorded it yet."""
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
    fake.complete_session(session.id, "visa")
    state = await gateway.retrieve_session(session.id)
    assert state.setup_intent is not None
    _, method = await gateway.saved_card(state.setup_intent)
    assert method is not None
    return method


@pytest.mark.parametrize("count", [40])
async def test_email_and_card_arriving_together_count_each_pledge_exactly_once(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway, count: int
) -> None:
    """The resident clicks their email link while Stripe's webhook saves the card: on
    PostgreSQL these are two transactions racing on one row; each pledge counts once."""
    campaign = await make_money_campaign(
        store, target=1000, money={"currency": "gbp", "min": 100, "max": 10_000}
    )
    pledges = []
    for i in range(count):
        outcome = await record_pledge(
            store, campaign.slug, parse_pledge(pledge_data(i, amount=100 + i))
        )
        method = await _card_at_stripe(fake_stripe, gateway, outcome.pledge_id)
        pledges.append((outcome.pledge_id, method))

    confirms: list[Any] = []
    cards: list[Any] = []

    async def confirm(pledge_id: int) -> None:
        confirms.append(await confirm_pledge(store, pledge_id))

    async def card_saved(pledge_id: int, method: str) -> None:
        cards.append(await record_card_saved(store, pledge_id, None, method))

    await asyncio.gather(
        *(
            step
            for pledge_id, method in pledges
            for step in (confirm(pledge_id), card_saved(pledge_id, method))
        )
    )
    # For each pledge, exactly one of the two steps counted it.
    counted_by_email = sum(c.newly_confirmed for c in confirms)
    counted_by_card = sum(c.counted for c in cards)
    assert counted_by_email + counted_by_card == count
    found = await get_campaign(store.database, campaign.slug)
    assert found.confirmed == count
    assert found.pledged_amount == sum(100 + i for i in range(count))
    types = await _event_types(store, campaign.id)
    assert types.count("pledge.confirmed") == count
    assert types.count("pledge.card_saved") == count
