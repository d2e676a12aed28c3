"""A repeated money pledge (an email that has a pledge on the campaign already) gets one
answer, on the form and in the API, whatever that pledge's state: nothing in it says
whether a card was saved, and no Checkout is handed to the sender. What is next, and the
link to save a card when one is needed, go by email to that address only."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.main import services_of
from app.settings import Settings
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from notifications.messages import MessageRenderer
from notifications.outbox import dispatch_events
from notifications.tables import emails
from pledges.campaigns import Campaign
from pledges.moderation import invalidate_pledges
from pledges.payments import run_payments
from pledges.pledging import confirm_pledge, get_pledge, parse_pledge, record_pledge
from pledges.pledging import withdraw_pledge as withdraw
from pledges.store import Store
from pledges.tables import pledges
from tests.app.pages.test_residents import csrf_for, form, page_of
from tests.factories import pledge_data
from tests.payments.conftest import DEPOSIT, make_money_campaign, make_money_pledge, money_settings

EMAIL = pledge_data(1)["email"]
CARD_LINK = re.compile(r"http://testserver/c/[a-z0-9-]+/card-cancelled\?token=([A-Za-z0-9_.\-]+)")


@pytest.fixture
def settings(database_url: str, fake_stripe: FakeStripe) -> Settings:
    return money_settings(database_url, fake_stripe)


@pytest.fixture
async def store(app: Starlette) -> Store:
    """The app's own store, so the test and the app share SQLite's single writer."""
    found: Store = services_of(app).store
    return found


Setup = Callable[[Store, FakeStripe, StripeGateway, Campaign], Awaitable[None]]


async def _no_card_yet(store: Store, fake: FakeStripe, gw: StripeGateway, c: Campaign) -> None:
    await record_pledge(store, c.slug, parse_pledge(pledge_data(1)))


async def _no_card_email_confirmed(
    store: Store, fake: FakeStripe, gw: StripeGateway, c: Campaign
) -> None:
    outcome = await record_pledge(store, c.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, outcome.pledge_id)


async def _card_saved(store: Store, fake: FakeStripe, gw: StripeGateway, c: Campaign) -> None:
    await make_money_pledge(store, fake, gw, c.slug, 1, confirm=False)


async def _counted(store: Store, fake: FakeStripe, gw: StripeGateway, c: Campaign) -> None:
    await make_money_pledge(store, fake, gw, c.slug, 1)


async def _withdrawn_without_card(
    store: Store, fake: FakeStripe, gw: StripeGateway, c: Campaign
) -> None:
    outcome = await record_pledge(store, c.slug, parse_pledge(pledge_data(1)))
    await withdraw(store, outcome.pledge_id)


async def _withdrawn_card_kept(
    store: Store, fake: FakeStripe, gw: StripeGateway, c: Campaign
) -> None:
    await withdraw(store, await make_money_pledge(store, fake, gw, c.slug, 1))


async def _withdrawn_card_released(
    store: Store, fake: FakeStripe, gw: StripeGateway, c: Campaign
) -> None:
    pledge_id = await make_money_pledge(store, fake, gw, c.slug, 1)
    await withdraw(store, pledge_id)
    await run_payments(store, gw)
    assert (await get_pledge(store.database, pledge_id)).payment_status == "released"


async def _struck_out(store: Store, fake: FakeStripe, gw: StripeGateway, c: Campaign) -> None:
    await record_pledge(store, c.slug, parse_pledge(pledge_data(1)))
    await invalidate_pledges(store, campaign_slug=c.slug)


STATES: dict[str, Setup] = {
    "no card yet": _no_card_yet,
    "no card yet, email confirmed": _no_card_email_confirmed,
    "card saved": _card_saved,
    "counted": _counted,
    "withdrawn without a card": _withdrawn_without_card,
    "withdrawn, card kept": _withdrawn_card_kept,
    "withdrawn, card released": _withdrawn_card_released,
    "struck out": _struck_out,
}


def _same_for_every_campaign(text: str, campaign: Campaign) -> str:
    return text.replace(campaign.slug, "{slug}").replace(campaign.title, "{title}")


async def _answers(client: httpx.AsyncClient, campaign: Campaign) -> dict[str, Any]:
    """Everything the sender of a repeated pledge gets back: the form's answer and the page
    it leads to, and the API's answer."""
    token = await csrf_for(client, campaign.slug)
    by_form = await client.post(f"/c/{campaign.slug}/pledge", data={**form(1), "csrf_token": token})
    location = by_form.headers.get("location", "")
    landing = await client.get(location) if location.startswith("/") else None
    by_api = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1))
    return {
        "form status": by_form.status_code,
        "form location": _same_for_every_campaign(location, campaign),
        "form body": _same_for_every_campaign(by_form.text, campaign),
        "landing status": landing.status_code if landing else None,
        "landing words": _same_for_every_campaign(page_of(landing).words, campaign)
        if landing
        else None,
        "api status": by_api.status_code,
        "api body": by_api.json(),
    }


async def _last_email_id(store: Store) -> int:
    """The newest message in the outbox, once every event so far has been dispatched."""
    while await dispatch_events(store):
        pass
    return int(await store.database.fetch_val(sa.select(sa.func.max(emails.c.id))) or 0)


async def _mail_since(
    store: Store, app: Starlette, pledge_id: int, after: int
) -> list[tuple[str, str]]:
    """(kind, text) of each email queued for this pledge after the email `after`."""
    while await dispatch_events(store):
        pass
    rows = await store.database.fetch_all(
        sa.select(emails)
        .where(emails.c.pledge_id == pledge_id, emails.c.id > after)
        .order_by(emails.c.id)
    )
    svc = services_of(app)
    renderer = MessageRenderer(svc.signer, "http://testserver", "gs@example.org")
    found = []
    for row in rows:
        assert row["to_address"] == EMAIL
        async with store.read() as db:
            rendered = await renderer.render(db, row["kind"], pledge_id, event_id=row["event_id"])
        found.append((row["kind"], rendered.text))
    return found


async def test_a_repeated_money_pledge_answers_alike_in_every_state_and_mails_the_link(
    client: httpx.AsyncClient,
    app: Starlette,
    store: Store,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
) -> None:
    answers: dict[str, dict[str, Any]] = {}
    mail: dict[str, list[tuple[str, str]]] = {}
    waiting_for_card: dict[str, bool] = {}
    pledge_of: dict[str, int] = {}
    for i, (state, setup) in enumerate(STATES.items()):
        campaign = await make_money_campaign(store, title=f"Fibre for street {i}")
        await setup(store, fake_stripe, gateway, campaign)
        sessions_before = len(fake_stripe.of_kind("checkout.session"))
        mailed_before = await _last_email_id(store)

        answers[state] = await _answers(client, campaign)

        # No Checkout was opened for the sender.
        assert len(fake_stripe.of_kind("checkout.session")) == sessions_before, state
        pledge_id = await store.database.fetch_val(
            sa.select(pledges.c.id).where(pledges.c.campaign_id == campaign.id)
        )
        pledge = await get_pledge(store.database, pledge_id)
        pledge_of[state] = pledge.id
        waiting_for_card[state] = pledge.payment_status == "awaiting_card"
        mail[state] = await _mail_since(store, app, pledge_id, mailed_before)

    first = answers["no card yet"]
    assert first["form status"] == 303
    assert first["form location"] == "/c/{slug}/pledged"
    assert first["landing status"] == 200
    assert "Check your email" in first["landing words"]
    assert first["api status"] == 202
    assert first["api body"] == {
        "status": "pending",
        "amount": DEPOSIT,
        "payment_status": None,
        "checkout_url": None,
    }
    for state, found in answers.items():
        assert found == first, state

    # What is next goes by email to that address (the struck-out pledge gets nothing: it is
    # not counted, whatever is sent). A pledge waiting for its card gets the link to save
    # it, signed for that pledge.
    signer = services_of(app).signer
    for state, messages in mail.items():
        if state == "struck out":
            assert messages == [], state
            continue
        assert messages, state
        kinds = {kind for kind, _ in messages}
        assert kinds <= {"confirm", "repeated"}, state
        links = [m for _, text in messages for m in CARD_LINK.findall(text)]
        if waiting_for_card[state]:
            assert links, state
            assert {signer.unsign(token, "pledge-card") for token in links} == {pledge_of[state]}, (
                state
            )
    assert waiting_for_card["no card yet"] and waiting_for_card["withdrawn, card released"]
    assert not waiting_for_card["card saved"]


async def test_a_new_money_pledge_still_goes_to_checkout(
    client: httpx.AsyncClient, store: Store, fake_stripe: FakeStripe
) -> None:
    campaign = await make_money_campaign(store)
    token = await csrf_for(client, campaign.slug)

    by_form = await client.post(f"/c/{campaign.slug}/pledge", data={**form(1), "csrf_token": token})
    by_api = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(2))

    assert by_form.status_code == 303
    assert by_form.headers["location"].startswith(f"{fake_stripe.public_url}/pay/cs_")
    assert by_api.status_code == 202
    assert by_api.json()["payment_status"] == "awaiting_card"
    assert by_api.json()["checkout_url"].startswith(f"{fake_stripe.public_url}/pay/cs_")
