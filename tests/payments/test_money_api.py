"""Money campaigns through JSON API v1: reading and creating them, pledging (with the
Checkout address to save a card), what is refused and how, and the campaign.funded
webhook a provider's receiver gets once charging is over."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.main import create_app
from app.settings import Settings
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from pledges.accounts import create_organisation_api_key
from pledges.campaigns import get_campaign
from pledges.store import Store
from tests.app.api.test_openapi import (
    DOCUMENT,
    _check_against,
    record_api_answers,
    undeclared_answers,
)
from tests.conftest import make_settings, table_snapshot, wait_for
from tests.factories import campaign_data, make_lead, pledge_data
from tests.payments.conftest import (
    DEPOSIT,
    make_money_campaign,
    make_money_pledge,
    money_settings,
    save_card,
)
from tests.receiver import Receiver, run_receiver

RANGE = {"currency": "gbp", "min": 500, "max": 10_000}


@pytest.fixture
def settings(database_url: str, fake_stripe: FakeStripe) -> Settings:
    return money_settings(database_url, fake_stripe, webhook_allow_private_networks=True)


@pytest.fixture(autouse=True)
async def every_answer_is_declared(client: httpx.AsyncClient) -> AsyncIterator[None]:
    answers = record_api_answers(client)
    yield
    assert undeclared_answers(answers) == []


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def store_of(app: Starlette) -> Store:
    store: Store = app.state.services.store
    return store


def fields_of(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = DOCUMENT["components"]["schemas"][name]
    return found


# Reading and creating money campaigns


async def test_campaign_json_has_its_money(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_money_campaign(store)
    money_only = await make_money_campaign(
        store, target=None, money={**RANGE, "currency": "eur", "target": 50_000}
    )

    body = (await client.get(f"/api/v1/campaigns/{campaign.slug}")).json()
    only = (await client.get(f"/api/v1/campaigns/{money_only.slug}")).json()
    listed = (await client.get("/api/v1/campaigns")).json()["campaigns"]

    assert body["money"] == {
        "currency": "gbp",
        "target": 6000,
        "deposit": DEPOSIT,
        "min": None,
        "max": None,
        "pledged": 0,
        "collected": 0,
        "refunded": 0,
        "funded_at": None,
    }
    assert body["threshold"] == {"target": 3, "money_target": 6000}
    assert body["progress"] == {"confirmed": 0, "percent": 0, "pledged": 0}
    assert only["threshold"] == {"target": None, "money_target": 50_000}
    assert (only["money"]["min"], only["money"]["max"], only["money"]["deposit"]) == (
        500,
        10_000,
        None,
    )
    for found in (body, only, *listed):
        _check_against(schema("Campaign"), found, found["slug"])
        _check_against(schema("Money"), found["money"], f"{found['slug']}.money")


async def test_a_lead_creates_a_money_campaign(client: httpx.AsyncClient, store: Store) -> None:
    _, key = await make_lead(store)
    data = campaign_data(money={"currency": "GBP", "target": 120_000, "deposit": 2500})
    del data["target"]  # the money target is enough

    created = await client.post("/api/v1/campaigns", headers=bearer(key), json=data)

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["threshold"] == {"target": None, "money_target": 120_000}
    assert body["money"]["currency"] == "gbp" and body["money"]["deposit"] == 2500
    stored = await get_campaign(store.database, body["slug"])
    assert (stored.target, stored.money_target, stored.deposit_amount) == (0, 120_000, 2500)


@pytest.mark.parametrize(
    ("money", "fields"),
    [
        ({"currency": "btc", "deposit": 2000}, ["money.currency"]),
        ({"currency": "gbp", "deposit": 20.5}, ["money.deposit"]),
        ({"currency": "gbp", "deposit": 50}, ["money.deposit"]),
        ({"currency": "gbp", "min": 5000, "max": 100}, ["money.max"]),
        ({"currency": "gbp", "min": 500}, ["money.max"]),
        ({"currency": "gbp", "deposit": 2000, "min": 500, "max": 900}, ["money.deposit"]),
        ({"currency": "gbp", "target": 0, "deposit": 2000}, ["money.target"]),
        ("twenty pounds", ["money"]),
    ],
)
async def test_money_mistakes_are_named_by_field_and_nothing_is_stored(
    client: httpx.AsyncClient, store: Store, money: Any, fields: list[str]
) -> None:
    _, key = await make_lead(store)
    before = await table_snapshot(store)

    answer = await client.post(
        "/api/v1/campaigns", headers=bearer(key), json=campaign_data(money=money)
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert fields_of(answer) == fields
    assert await table_snapshot(store) == before


# Pledging


async def test_a_pledge_answers_with_stripe_checkout(
    client: httpx.AsyncClient, store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)

    first = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1))
    again = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1))

    assert first.status_code == again.status_code == 202
    body = first.json()
    assert body["status"] == "pending"
    assert (body["amount"], body["payment_status"]) == (DEPOSIT, "awaiting_card")
    assert body["checkout_url"].startswith(fake_stripe.public_url + "/")
    # The hosted page is there to save a card on.
    page = await fake_stripe_page(fake_stripe, first.json()["checkout_url"])
    assert page.status_code == 200

    # A repeat gets no Checkout (its link goes by email), and the same answer once the card
    # is saved: nothing says what the earlier pledge is waiting for.
    pledge_id = await only_pledge_id(store, campaign.slug)
    await save_card(fake_stripe, gateway, store, pledge_id)
    saved = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1))
    assert saved.status_code == 202
    for answer in (again, saved):
        assert answer.json() == {
            "status": "pending",
            "amount": DEPOSIT,
            "payment_status": None,
            "checkout_url": None,
        }
    for answer in (first, again, saved):
        _check_against(schema("PledgeAccepted"), answer.json(), "pledge")


async def fake_stripe_page(fake: FakeStripe, url: str) -> httpx.Response:
    async with httpx.AsyncClient() as browser:
        return await browser.get(url)


async def only_pledge_id(store: Store, slug: str) -> int:
    campaign = await get_campaign(store.database, slug)
    pledge_id = await store.database.fetch_val(
        "SELECT id FROM pledges WHERE campaign_id = :c", {"c": campaign.id}
    )
    return int(pledge_id)


async def test_the_resident_chooses_the_amount_within_the_range(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_money_campaign(store, money=RANGE)
    path = f"/api/v1/campaigns/{campaign.slug}/pledges"
    before = await table_snapshot(store)

    too_little = await client.post(path, json=pledge_data(1, amount=499))
    too_much = await client.post(path, json=pledge_data(1, amount=10_001))
    missing = await client.post(path, json=pledge_data(1))
    in_pounds = await client.post(path, json=pledge_data(1, amount="20.00"))

    for answer in (too_little, too_much, missing, in_pounds):
        assert answer.status_code == 422
        assert fields_of(answer) == ["amount"]
        assert "£5 to £100" in answer.json()["errors"][0]["message"]
    assert await table_snapshot(store) == before

    chosen = await client.post(path, json=pledge_data(1, amount=2550))

    assert chosen.status_code == 202
    assert (chosen.json()["amount"], chosen.json()["payment_status"]) == (2550, "awaiting_card")


async def test_confirming_by_api_says_a_card_is_still_needed(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_money_campaign(store)
    await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1))
    token = app.state.services.signer.sign(
        await only_pledge_id(store, campaign.slug), "pledge-confirm"
    )

    confirmed = await client.post("/api/v1/pledges/confirm", json={"token": token})

    assert confirmed.status_code == 200
    body = confirmed.json()
    assert body["awaiting_card"] is True
    assert body["progress"]["confirmed"] == 0
    assert (body["progress"]["pledged_amount"], body["progress"]["money_target"]) == (0, 6000)


async def test_without_stripe_money_is_refused_by_name(database_url: str, store: Store) -> None:
    campaign = await make_money_campaign(store)  # opened while the site had Stripe keys
    _, key = await make_lead(store, "other@example.org")
    app = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            answers = record_api_answers(c)
            before = await table_snapshot(store)

            pledged = await c.post(
                f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1)
            )
            created = await c.post(
                "/api/v1/campaigns",
                headers=bearer(key),
                json=campaign_data(money={"currency": "gbp", "deposit": 2000}),
            )

            assert await table_snapshot(store) == before
            assert undeclared_answers(answers) == []
    assert pledged.status_code == 409
    assert fields_of(pledged) == ["money"]
    assert created.status_code == 422
    assert fields_of(created) == ["money"]


# The campaign.funded webhook


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with run_receiver(Receiver()) as r:
        yield r


async def test_a_provider_gets_campaign_funded_once_charging_is_over(
    app: Starlette,
    client: httpx.AsyncClient,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
    receiver: Receiver,
) -> None:
    store = store_of(app)
    _, org_key = await create_organisation_api_key(
        store, "ops@fibreco.example", "FibreCo", "provider"
    )
    endpoint = await client.post(
        "/api/v1/webhook-endpoints",
        headers=bearer(org_key),
        json={"url": receiver.url, "event_types": ["campaign.funded"]},
    )
    assert endpoint.status_code == 201, endpoint.text
    receiver.secrets.append(endpoint.json()["secret"])
    campaign = await make_money_campaign(store)
    for i in range(3):
        await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i)
    worker = app.state.services.worker

    async def funded() -> bool:  # the worker's passes charge the cards, then fund
        await worker.run_once()
        return bool(receiver.verified())

    await wait_for(funded)
    [message] = receiver.verified()
    body = message.verified
    assert body["type"] == "campaign.funded"
    assert body["data"]["campaign"]["slug"] == campaign.slug
    assert body["data"]["campaign"]["url"] == f"http://testserver/c/{campaign.slug}"
    assert body["data"]["campaign"]["money"]["collected"] == 3 * DEPOSIT
    assert body["data"]["totals"] == {
        "currency": "gbp",
        "pledged": 3 * DEPOSIT,
        "collected": 3 * DEPOSIT,
        "refunded": 0,
        "failed": 0,
        "pledges": {"paid": 3},
    }
    assert "resident" not in message.body.decode()  # no one's personal data
    assert (await get_campaign(store.database, campaign.slug)).collected_amount == 3 * DEPOSIT
    await worker.run_once()
    assert len(receiver.requests) == 1  # once, and no other event type
