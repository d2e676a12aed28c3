"""POST /stripe/webhook: Stripe's signed events, applied once each, in any order.

Events come from the fake Stripe after a resident finishes its hosted Checkout; the test
posts them to the app signed as Stripe signs them (`Stripe-Signature`)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import stripe
from starlette.applications import Starlette

from app.main import services_of
from app.pages.payments import MAX_WEBHOOK_BODY
from app.settings import Settings
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from pledges.campaigns import Campaign, get_campaign
from pledges.checkout import card_checkout_url, pay_checkout_url
from pledges.payments import run_payments
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from pledges.tables import pledges, stripe_events
from tests.app.pages.test_residents import nothing_changes, sign
from tests.factories import pledge_data
from tests.payments.conftest import make_money_campaign, make_money_pledge, money_settings
from tests.payments.stripe_server import WEBHOOK_SECRET


@pytest.fixture
def settings(database_url: str, fake_stripe: FakeStripe) -> Settings:
    return money_settings(database_url, fake_stripe)


@pytest.fixture
async def store(app: Starlette) -> Store:
    """The app's own store, so the test and the app share SQLite's single writer."""
    found: Store = services_of(app).store
    return found


async def deliver(
    client: httpx.AsyncClient, fake: FakeStripe, event: dict[str, Any]
) -> httpx.Response:
    payload, headers = fake.signed(event)
    return await client.post("/stripe/webhook", content=payload, headers=headers)


def event_of(fake: FakeStripe, event_type: str, **data: Any) -> dict[str, Any]:
    """The one event of this type whose object has these values."""
    found = [
        e
        for e in fake.events
        if e["type"] == event_type and all(e["data"]["object"].get(k) == v for k, v in data.items())
    ]
    assert len(found) == 1, [e["type"] for e in fake.events]
    return found[0]


async def payment_status(store: Store, pledge_id: int) -> str:
    value = await store.database.fetch_val(
        sa.select(pledges.c.payment_status).where(pledges.c.id == pledge_id)
    )
    return str(value)


async def reload(store: Store, campaign: Campaign) -> Campaign:
    return await get_campaign(store.database, campaign.slug)


async def card_saved_at_stripe(app: Starlette, fake: FakeStripe, pledge_id: int) -> str:
    """The resident saved a card on Checkout but has not come back to Groundswell."""
    svc = services_of(app)
    url = await card_checkout_url(
        svc.store, svc.payments, svc.signer, svc.settings.base_url, pledge_id
    )
    session_id = url.rsplit("/", 1)[1]
    fake.complete_session(session_id, "visa")
    return session_id


async def test_a_signed_event_is_applied_once(
    client: httpx.AsyncClient, store: Store, app: Starlette, fake_stripe: FakeStripe
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, outcome.pledge_id)
    session_id = await card_saved_at_stripe(app, fake_stripe, outcome.pledge_id)
    completed = event_of(fake_stripe, "checkout.session.completed", id=session_id)

    first = await deliver(client, fake_stripe, completed)
    again = await deliver(client, fake_stripe, completed)

    assert first.status_code == 200
    assert first.json() == {"received": True, "result": "card_saved"}
    assert await payment_status(store, outcome.pledge_id) == "card_saved"
    assert again.status_code == 200
    assert again.json() == {"received": True, "result": "duplicate"}
    after = await reload(store, campaign)
    assert (after.confirmed, after.pledged_amount) == (1, 2000)
    # The SetupIntent's own event, after: the card is already saved.
    setup = event_of(fake_stripe, "setup_intent.succeeded")
    late = await deliver(client, fake_stripe, setup)
    assert late.json() == {"received": True, "result": "already"}
    after = await reload(store, campaign)
    assert (after.confirmed, after.pledged_amount) == (1, 2000)


async def test_events_after_the_return_page_change_nothing(
    client: httpx.AsyncClient, store: Store, app: Starlette, fake_stripe: FakeStripe
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, outcome.pledge_id)
    session_id = await card_saved_at_stripe(app, fake_stripe, outcome.pledge_id)
    returned = await client.get(f"/c/{campaign.slug}/card-saved", params={"session_id": session_id})
    assert returned.status_code == 200

    results = [(await deliver(client, fake_stripe, e)).json()["result"] for e in fake_stripe.events]

    assert results == ["already", "already"]  # setup_intent.succeeded, checkout.session.completed
    after = await reload(store, campaign)
    assert (after.confirmed, after.pledged_amount) == (1, 2000)
    assert (
        await store.database.fetch_val(sa.select(sa.func.count()).select_from(stripe_events)) == 2
    )


async def _paid_on_checkout(
    store: Store, app: Starlette, fake: FakeStripe, gateway: StripeGateway, card: str
) -> tuple[Campaign, int, str, str]:
    """A one-pledge campaign whose off-session charge with `card` failed, then paid by
    the resident on Checkout (payment mode) with the visa card; its events not yet
    delivered. Returns the campaign, the pledge, its pay token and the session id."""
    campaign = await make_money_campaign(
        store, target=1, money={"currency": "gbp", "target": 2000, "deposit": 2000}
    )
    pledge_id = await make_money_pledge(store, fake, gateway, campaign.slug, 1, card=card)
    await run_payments(store, gateway)
    assert await payment_status(store, pledge_id) == "action_required"
    token = sign(app, pledge_id, "pledge-pay")
    svc = services_of(app)
    url = await pay_checkout_url(svc.store, svc.payments, svc.settings.base_url, pledge_id, token)
    session_id = url.rsplit("/", 1)[1]
    fake.complete_session(session_id, "visa")
    return campaign, pledge_id, token, session_id


async def test_a_payment_event_before_its_checkout_event_pays_once(
    client: httpx.AsyncClient,
    store: Store,
    app: Starlette,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
) -> None:
    campaign, pledge_id, token, session_id = await _paid_on_checkout(
        store, app, fake_stripe, gateway, "authentication"
    )
    completed = event_of(fake_stripe, "checkout.session.completed", id=session_id)
    intent = completed["data"]["object"]["payment_intent"]
    succeeded = event_of(fake_stripe, "payment_intent.succeeded", id=intent)

    first = await deliver(client, fake_stripe, succeeded)
    second = await deliver(client, fake_stripe, completed)
    back = await client.get(f"/pay/{token}/done", params={"session_id": session_id})

    assert first.json()["result"] == "paid"
    assert second.json()["result"] == "already"
    assert back.status_code == 200
    assert await payment_status(store, pledge_id) == "paid"
    assert (await reload(store, campaign)).collected_amount == 2000


async def test_the_return_page_then_the_payment_event_pays_once(
    client: httpx.AsyncClient,
    store: Store,
    app: Starlette,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
) -> None:
    campaign, _, token, session_id = await _paid_on_checkout(
        store, app, fake_stripe, gateway, "declined"
    )

    back = await client.get(f"/pay/{token}/done", params={"session_id": session_id})
    completed = event_of(fake_stripe, "checkout.session.completed", id=session_id)
    intent = completed["data"]["object"]["payment_intent"]
    results = [
        (await deliver(client, fake_stripe, e)).json()["result"]
        for e in (event_of(fake_stripe, "payment_intent.succeeded", id=intent), completed)
    ]

    assert back.status_code == 200
    assert results == ["already", "already"]
    assert (await reload(store, campaign)).collected_amount == 2000


def signed_with(payload: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=timestamp or int(time.time())
    )
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


@pytest.mark.parametrize(
    "kind", ["wrong secret", "body changed", "too old", "no header", "garbage header"]
)
async def test_a_bad_signature_is_400_and_changes_nothing(
    client: httpx.AsyncClient,
    store: Store,
    app: Starlette,
    fake_stripe: FakeStripe,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    session_id = await card_saved_at_stripe(app, fake_stripe, outcome.pledge_id)
    payload = json.dumps(event_of(fake_stripe, "checkout.session.completed", id=session_id))
    headers = {
        "wrong secret": signed_with(payload, "whsec_someone_else"),
        "body changed": signed_with(payload.replace("complete", "open"), WEBHOOK_SECRET),
        "too old": signed_with(payload, WEBHOOK_SECRET, int(time.time()) - 3600),
        "no header": {"Content-Type": "application/json"},
        "garbage header": {"Stripe-Signature": "nonsense"},
    }[kind]

    async with nothing_changes(store):
        with caplog.at_level(logging.DEBUG):
            response = await client.post("/stripe/webhook", content=payload, headers=headers)

    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert WEBHOOK_SECRET not in response.text
    assert "a Stripe webhook with a bad signature or body was refused" in caplog.text
    assert WEBHOOK_SECRET not in caplog.text and session_id not in caplog.text  # nor the body
    assert await payment_status(store, outcome.pledge_id) == "awaiting_card"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"id": "evt_1", "type": "x"})])
async def test_a_signed_body_that_is_not_an_event_is_400(
    client: httpx.AsyncClient, store: Store, body: str
) -> None:
    async with nothing_changes(store):
        response = await client.post(
            "/stripe/webhook", content=body, headers=signed_with(body, WEBHOOK_SECRET)
        )

    assert response.status_code == 400
    assert set(response.json()) == {"error"}


async def test_an_event_of_no_pledge_of_ours_is_received_and_ignored(
    client: httpx.AsyncClient, fake_stripe: FakeStripe
) -> None:
    event = {
        "id": "evt_someone_elses",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": "pi_x", "metadata": {}, "amount": 100}},
    }

    response = await deliver(client, fake_stripe, event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "result": "ignored"}


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient, store: Store) -> None:
    body = json.dumps({"id": "evt_big", "padding": "x" * MAX_WEBHOOK_BODY})

    async with nothing_changes(store):
        response = await client.post(
            "/stripe/webhook", content=body, headers=signed_with(body, WEBHOOK_SECRET)
        )

    assert response.status_code == 413


async def test_a_database_failure_is_500_so_stripe_sends_it_again(
    client: httpx.AsyncClient, store: Store, app: Starlette, fake_stripe: FakeStripe
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    session_id = await card_saved_at_stripe(app, fake_stripe, outcome.pledge_id)
    completed = event_of(fake_stripe, "checkout.session.completed", id=session_id)
    # A database failure for a moment: the table of events received is not there.
    await store.database.execute("ALTER TABLE stripe_events RENAME TO stripe_events_away")
    try:
        failed = await deliver(client, fake_stripe, completed)
    finally:
        await store.database.execute("ALTER TABLE stripe_events_away RENAME TO stripe_events")
    assert failed.status_code == 500
    assert set(failed.json()) == {"error"}
    assert await payment_status(store, outcome.pledge_id) == "awaiting_card"

    retried = await deliver(client, fake_stripe, completed)

    assert retried.json() == {"received": True, "result": "card_saved"}
    assert await payment_status(store, outcome.pledge_id) == "card_saved"
