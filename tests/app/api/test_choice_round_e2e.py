"""End to end through the API: two providers post offers on a tipped campaign, its lead
opens the choice round, 30 pledgers choose at once (some changing their mind), the worker
closes the round at its closing date, and each provider's real receiver gets exactly one
signed `offer.chosen` whose totals are the choices stored; each provider's contacts
download holds only the residents who chose its offers and agreed to be contacted."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from jsonschema import FormatChecker
from openapi_schema_validator import OAS31Validator
from starlette.applications import Starlette

from app.api.openapi import openapi_document
from app.main import services_of
from app.settings import Settings
from pledges.accounts import create_organisation_api_key
from pledges.campaigns import get_campaign
from pledges.choices import counted_choices, get_round
from pledges.demand_curve import open_figure
from pledges.offers import list_offers
from tests.conftest import make_settings, wait_for
from tests.factories import (
    approve,
    campaign_data,
    make_confirmed_pledge,
    make_lead,
    pledge_data,
)
from tests.notifications.test_webhook_delivery import make_worker
from tests.receiver import Receiver, run_receiver

DOCUMENT = openapi_document("http://testserver")
PLEDGERS = 30


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, webhook_allow_private_networks=True)


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    async with run_receiver(Receiver()) as first, run_receiver(Receiver()) as second:
        yield first, second


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def offer_body(title: str, price: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title,
        "description": "Fibre to every home on the street.\n\nInstalled within six weeks.",
        "price": price,
        "period": "month",
        "minimum_term_months": 12,
        "social_tariff": {"price": 1200, "who_qualifies": "Households on Universal Credit."},
    }
    body.update(overrides)
    return body


async def provider_with_receiver(
    client: httpx.AsyncClient, store: Any, name: str, receiver: Receiver
) -> str:
    """A provider, approved to receive contacts, whose one endpoint, at `receiver`, covers
    broadband campaigns in LS."""
    org, key = await create_organisation_api_key(
        store, f"ops@{name.lower()}.example", name, "provider"
    )
    await approve(store, org.id)
    created = await client.post(
        "/api/v1/webhook-endpoints",
        headers=bearer(key),
        json={
            "url": receiver.url,
            "filters": {"categories": ["broadband"], "postcode_prefixes": ["LS"]},
        },
    )
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])
    return key


def messages_of(receiver: Receiver, event: str) -> list[dict[str, Any]]:
    return [r.verified for r in receiver.verified() if r.verified["type"] == event]


def assert_as_documented(message: dict[str, Any]) -> None:
    schema = DOCUMENT["webhooks"][message["type"]]["post"]["requestBody"]
    validator = OAS31Validator(
        {**schema["content"]["application/json"]["schema"], "components": DOCUMENT["components"]},
        format_checker=FormatChecker(),
    )
    assert [e.message for e in validator.iter_errors(message)] == []


async def test_thirty_choose_at_once_and_each_provider_hears_its_own_totals_once(
    app: Starlette, client: httpx.AsyncClient, receivers: tuple[Receiver, Receiver]
) -> None:
    store = services_of(app).store
    signer = services_of(app).signer
    worker = make_worker(store)
    fibre_rx, cable_rx = receivers
    fibre_key = await provider_with_receiver(client, store, "FibreCo", fibre_rx)
    cable_key = await provider_with_receiver(client, store, "CableCo", cable_rx)
    _, lead_key = await make_lead(store)

    # A campaign of 30 that tips on its 30th confirmed pledge; the even ones agreed to be
    # contacted when they pledged.
    made = await client.post(
        "/api/v1/campaigns", headers=bearer(lead_key), json=campaign_data(target=PLEDGERS)
    )
    assert made.status_code == 201, made.text
    slug = made.json()["slug"]
    pledge_ids = [
        await make_confirmed_pledge(store, slug, i, share_contact=i % 2 == 0)
        for i in range(PLEDGERS)
    ]
    assert (await get_campaign(store.database, slug)).status == "tipped"

    # FibreCo posts one offer, CableCo two (one without a social tariff).
    offers_path = f"/api/v1/campaigns/{slug}/offers"
    fibre = await client.post(
        offers_path, headers=bearer(fibre_key), json=offer_body("Full fibre, 900 Mb", 2500)
    )
    assert fibre.status_code == 201, fibre.text
    cable_fast = await client.post(
        offers_path, headers=bearer(cable_key), json=offer_body("Cable, 500 Mb", 2200)
    )
    cable_slow = await client.post(
        offers_path,
        headers=bearer(cable_key),
        json=offer_body(
            "Cable, 100 Mb",
            1500,
            social_tariff=None,
            no_social_tariff="This is already our cheapest package.",
        ),
    )
    assert cable_fast.status_code == cable_slow.status_code == 201, cable_slow.text
    fibre_id, fast_id, slow_id = (r.json()["id"] for r in (fibre, cable_fast, cable_slow))
    # CableCo withdraws a fourth offer before the round: it is listed last, with its reason.
    dropped = await client.post(
        offers_path, headers=bearer(cable_key), json=offer_body("Cable, 50 Mb", 1300)
    )
    assert dropped.status_code == 201, dropped.text
    dropped_id = dropped.json()["id"]
    gone = await client.post(
        f"{offers_path}/{dropped_id}/withdraw",
        headers=bearer(cable_key),
        json={"reason": "Replaced by the 100 Mb package."},
    )
    assert gone.status_code == 200, gone.text
    listed = await client.get(offers_path)
    # Fair order: by price (no provider can buy its place), and no counts for anyone yet.
    assert [o["id"] for o in listed.json()["offers"]] == [slow_id, fast_id, fibre_id, dropped_id]
    assert all("chosen" not in o for o in listed.json()["offers"])

    opened = await client.post(
        f"/api/v1/campaigns/{slug}/choice-round", headers=bearer(lead_key), json={}
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "open"
    closes_at = datetime.fromisoformat(opened.json()["round"]["closes_at"])

    # Each pledger's plan: a first choice and, for every third, a change of mind; every
    # fourth says privately they would need a social tariff; some override their consent.
    choices = [fibre_id, fast_id, slow_id, "none"]

    def plan(i: int) -> list[dict[str, Any]]:
        first = {"offer": choices[i % 4], "needs_social_tariff": i % 4 == 1}
        if i % 5 == 0:
            first["share_contact"] = i % 10 == 0  # 0, 10, 20 agree again; 5, 15, 25 refuse
        steps = [first]
        if i % 3 == 0:
            steps.append({**first, "offer": choices[(i + 1) % 4], "needs_social_tariff": True})
        return steps

    async def choose_as(i: int) -> None:
        token = signer.sign(pledge_ids[i], "offer-choice")
        for step in plan(i):
            answer = await client.post("/api/v1/choices", json={"token": token, **step})
            assert answer.status_code == 200, answer.text
            assert answer.json()["choice"]["offer"] == step["offer"]

    await asyncio.gather(*(choose_as(i) for i in range(PLEDGERS)))

    final = {i: plan(i)[-1] for i in range(PLEDGERS)}
    chosen = Counter(step["offer"] for step in final.values())
    needing = Counter(step["offer"] for step in final.values() if step["needs_social_tariff"])
    consenting = {
        i
        for i, step in final.items()
        if step.get("share_contact", i % 2 == 0) and step["offer"] != "none"
    }

    # During the round: a provider sees its own live totals, never another's.
    as_fibre = {
        o["id"]: o
        for o in (await client.get(offers_path, headers=bearer(fibre_key))).json()["offers"]
    }
    assert as_fibre[fibre_id]["chosen"] == chosen[fibre_id]
    assert "chosen" not in as_fibre[fast_id] and "chosen" not in as_fibre[slow_id]
    round_path = f"/api/v1/campaigns/{slug}/choice-round"
    assert (await client.get(round_path)).json()["results"] is None
    live = (await client.get(round_path, headers=bearer(lead_key))).json()["results"]
    assert {o["id"]: o["chosen"] for o in live["offers"]} == {
        o: chosen[o] for o in (fibre_id, fast_id, slow_id, dropped_id)
    }
    assert live["none_of_these"] == chosen["none"]
    contacts_path = f"{round_path}/contacts"
    early = await client.get(contacts_path, headers=bearer(fibre_key))
    assert early.status_code == 409

    # The counters are exactly the choices stored.
    campaign = await get_campaign(store.database, slug)
    stored = await counted_choices(store.database, campaign.id)
    by_public = {o.public_id: o for o in await list_offers(store.database, campaign.id)}
    for public_id in (fibre_id, fast_id, slow_id):
        offer = by_public[public_id]
        assert offer.chosen_count == stored["offers"][offer.id][0] == chosen[public_id]
        assert offer.social_tariff_count == stored["offers"][offer.id][1] == needing[public_id]
    assert stored["none"] == chosen["none"]

    # The worker passes the closing date: the round closes once, and each provider's
    # receiver gets one signed offer.chosen with its own offers' totals.
    later = closes_at + timedelta(seconds=1)
    assert await worker.dispatch(now=later) > 0
    found = await get_round(store.database, campaign.id)
    assert found is not None and found.closed_at is not None

    async def both_heard() -> bool:
        await worker.run_once()
        return bool(messages_of(fibre_rx, "offer.chosen") and messages_of(cable_rx, "offer.chosen"))

    try:
        await wait_for(both_heard)
        await worker.dispatch(now=later + timedelta(hours=1))  # a later pass sends nothing more
        await worker.run_once()
    finally:
        await worker.aclose()
    cable_own = [fast_id, slow_id, dropped_id]
    for receiver, own in ((fibre_rx, [fibre_id]), (cable_rx, cable_own)):
        [message] = messages_of(receiver, "offer.chosen")
        assert_as_documented(message)
        totals = {o["id"]: o for o in message["data"]["offers"]}
        assert sorted(totals) == sorted(own)
        for public_id in own:
            assert totals[public_id]["chosen"] == chosen[public_id]
            assert totals[public_id]["social_tariff_needed"] == open_figure(needing[public_id])
        assert message["data"]["campaign"]["slug"] == slug
        assert message["data"]["choice_round"]["closed_at"] is not None
        # Every provider hears the round open and close, with everyone's results.
        [closed] = messages_of(receiver, "campaign.choice_closed")
        assert_as_documented(closed)
        results = {o["id"]: o["chosen"] for o in closed["data"]["results"]["offers"]}
        assert results == {o: chosen[o] for o in (fibre_id, fast_id, slow_id, dropped_id)}
        [opened_message] = messages_of(receiver, "campaign.choice_opened")
        assert [o["id"] for o in opened_message["data"]["offers"]] == [slow_id, fast_id, fibre_id]
        assert len(messages_of(receiver, "offer.published")) == 4
        [withdrawn] = messages_of(receiver, "offer.withdrawn")
        assert withdrawn["data"]["offer"]["withdrawn_reason"] == "Replaced by the 100 Mb package."
        for body in receiver.verified():
            assert_as_documented(body.verified)
            assert "@" not in body.body.decode()  # no resident's contact in any message

    # Each provider's download holds only its own choosers who agreed to be contacted.
    emails = {pledge_data(i)["email"]: i for i in range(PLEDGERS)}
    for key, mine in ((fibre_key, {fibre_id}), (cable_key, set(cable_own))):
        download = await client.get(contacts_path, headers=bearer(key))
        assert download.status_code == 200, download.text
        assert download.headers["cache-control"] == "no-store"
        got = {emails[c["email"]]: c["offer"] for c in download.json()["contacts"]}
        assert got == {i: final[i]["offer"] for i in consenting if final[i]["offer"] in mine}
        assert got  # the test means something: someone is listed

    # After the close: everyone sees the results, and no choice changes any more.
    public = (await client.get(round_path)).json()
    assert public["status"] == "closed" and public["results"]["chose_an_offer"] == (
        PLEDGERS - chosen["none"]
    )
    assert all("chosen" in o for o in (await client.get(offers_path)).json()["offers"])
    too_late = await client.post(
        "/api/v1/choices",
        json={"token": signer.sign(pledge_ids[1], "offer-choice"), "offer": "none"},
    )
    assert too_late.status_code == 409
    assert (await counted_choices(store.database, campaign.id)) == stored
