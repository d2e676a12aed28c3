"""The demo's money campaign: seeded once, on demo databases only, with two pledges whose
cards the stand-in saved; and the stand-in remembers its objects between runs."""

from __future__ import annotations

from pathlib import Path

from app.development.demo import (
    MONEY_CAMPAIGN,
    load_stand_in,
    make_stand_in,
    save_stand_in,
    seed_demo,
    seed_money_demo,
    stand_in_state_path,
)
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from pledges.campaigns import get_campaign, list_campaigns
from pledges.payments import payment_totals, run_payments
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from tests.conftest import make_settings
from tests.factories import make_campaign, pledge_data
from tests.payments.conftest import save_card

SLUG = str(MONEY_CAMPAIGN["slug"])


async def test_money_campaign_is_seeded_once_with_two_counted_pledges(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    assert await seed_demo(store)
    assert await seed_money_demo(store, gateway, fake_stripe)
    assert not await seed_money_demo(store, gateway, fake_stripe)

    campaign = await get_campaign(store.database, SLUG)
    assert campaign.status == "open"
    assert (campaign.target, campaign.money_target, campaign.deposit_amount) == (3, 60000, 20000)
    assert (campaign.confirmed, campaign.pledged_amount) == (2, 40000)
    totals = await payment_totals(store.database, campaign.id)
    assert totals["pledges"] == {"card_saved": 2}
    assert len(fake_stripe.of_kind("payment_method")) == 2
    assert fake_stripe.charges() == []  # nothing is charged before the campaign tips


async def test_the_third_pledge_tips_it_and_the_three_cards_are_charged(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    await seed_demo(store)
    await seed_money_demo(store, gateway, fake_stripe)
    outcome = await record_pledge(
        store, SLUG, parse_pledge(pledge_data(1, email="third@example.org"))
    )
    await save_card(fake_stripe, gateway, store, outcome.pledge_id)
    await confirm_pledge(store, outcome.pledge_id)
    assert (await get_campaign(store.database, SLUG)).status == "tipped"

    await run_payments(store, gateway)
    campaign = await get_campaign(store.database, SLUG)
    assert campaign.collected_amount == 60000
    assert sorted(c["amount"] for c in fake_stripe.charges()) == [20000, 20000, 20000]


async def test_not_seeded_beside_someones_own_campaigns(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    await make_campaign(store)
    assert not await seed_money_demo(store, gateway, fake_stripe)
    slugs = [c.slug for c in await list_campaigns(store.database, include_drafts=True)]
    assert SLUG not in slugs


async def test_with_real_stripe_the_campaign_is_seeded_without_pledges(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    await seed_demo(store)
    assert await seed_money_demo(store, gateway, None)  # no stand-in to save cards on
    campaign = await get_campaign(store.database, SLUG)
    assert (campaign.confirmed, campaign.pledged_amount) == (0, 0)
    assert fake_stripe.of_kind("customer") == []


async def test_stand_in_remembers_its_objects_beside_a_sqlite_file(
    tmp_path: Path, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'demo.db'}")
    path = stand_in_state_path(settings)
    assert path == tmp_path / "demo.db.stripe-stand-in.json"
    assert stand_in_state_path(make_settings("postgresql://u@h/db")) is None

    customer = await gateway.create_customer(email="a@example.org", name="A", pledge_id=1)
    save_stand_in(fake_stripe, path)
    later = make_stand_in("http://127.0.0.1:1/stripe/webhook")
    assert load_stand_in(later, path) == len(fake_stripe.objects)
    assert later.get("customer", customer)["email"] == "a@example.org"
    assert later.api_key != fake_stripe.api_key and later.api_key.startswith("sk_test_")

    path.write_text("not json")
    assert load_stand_in(make_stand_in("http://127.0.0.1:1/"), path) == 0
