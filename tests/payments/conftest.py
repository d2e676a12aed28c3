"""Money pledges under test: the fake Stripe running on 127.0.0.1, settings pointing the
real stripe client at it, and factories for money campaigns and pledges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.settings import Settings
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from pledges.accounts import Lead
from pledges.campaigns import Campaign
from pledges.payments import record_card_saved
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from tests.conftest import make_settings
from tests.factories import make_campaign, pledge_data
from tests.payments.stripe_server import API_KEY, WEBHOOK_SECRET, run_fake_stripe

DEPOSIT = 2000  # £20


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    """The fake Stripe; it holds events (no webhook URL) until a test delivers them."""
    async with run_fake_stripe() as fake:
        yield fake


def money_settings(database_url: str, fake: FakeStripe, **overrides: Any) -> Settings:
    return make_settings(
        database_url,
        stripe_secret_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake.public_url,
        **overrides,
    )


@pytest.fixture
async def gateway(fake_stripe: FakeStripe) -> AsyncIterator[StripeGateway]:
    g = StripeGateway(API_KEY, WEBHOOK_SECRET, fake_stripe.public_url)
    yield g
    await g.aclose()


async def make_money_campaign(
    store: Store, lead: Lead | None = None, *, money: dict[str, Any] | None = None, **overrides: Any
) -> Campaign:
    """A campaign of 3 households and £60, £20 each, unless told otherwise."""
    overrides.setdefault("target", 3)
    return await make_campaign(
        store,
        lead,
        money=money or {"currency": "gbp", "target": 3 * DEPOSIT, "deposit": DEPOSIT},
        **overrides,
    )


async def save_card(
    fake: FakeStripe, gateway: StripeGateway, store: Store, pledge_id: int, card: str = "visa"
) -> str:
    """What a resident does on Stripe's hosted page, and Groundswell records on return:
    a customer, Checkout in setup mode completed with a test card, the card saved."""
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
    fake.complete_session(session.id, card)
    state = await gateway.retrieve_session(session.id)
    assert state.setup_intent is not None
    found_customer, method = await gateway.saved_card(state.setup_intent)
    assert method is not None
    await record_card_saved(store, pledge_id, found_customer, method)
    return method


async def make_money_pledge(
    store: Store,
    fake: FakeStripe,
    gateway: StripeGateway,
    slug: str,
    i: int = 0,
    *,
    card: str = "visa",
    confirm: bool = True,
    **overrides: Any,
) -> int:
    """A money pledge with its card saved and (by default) its email confirmed: counted."""
    outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i, **overrides)))
    await save_card(fake, gateway, store, outcome.pledge_id, card)
    if confirm:
        await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id
