"""The offers and choice-round API refuses what it must, with a clear message and nothing
changed: a provider whose endpoints do not cover a campaign, a council, another provider's
totals and contacts before the close, an edit once the round is open, a choice with a bad
token, outside the round or of an offer that is not there; 422s name the field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.main import services_of
from app.settings import Settings
from notifications.endpoints import create_endpoint, parse_endpoint
from pledges.accounts import create_organisation_api_key
from pledges.campaigns import Campaign
from pledges.store import Store, utcnow
from tests.app.api.test_choice_round_e2e import bearer, offer_body
from tests.conftest import make_settings, table_snapshot
from tests.factories import approve, make_campaign, make_confirmed_pledge, make_lead
from tests.notifications.test_webhook_delivery import make_worker


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, webhook_allow_private_networks=True)


@pytest.fixture
def store_of_app(app: Starlette) -> Store:
    return services_of(app).store


async def organisation(
    store: Store, name: str, kind: str = "provider", prefixes: tuple[str, ...] = ("LS",)
) -> str:
    """An organisation, approved to receive contacts, with one active endpoint covering
    broadband in `prefixes`."""
    org, key = await create_organisation_api_key(store, f"ops@{name.lower()}.example", name, kind)
    await approve(store, org.id)
    spec = await parse_endpoint(
        {
            "url": "http://127.0.0.1:9/hooks",
            "event_types": ["webhook.test"],
            "filters": {"categories": ["broadband"], "postcode_prefixes": list(prefixes)},
        },
        partial=False,
        allow_private=True,
    )
    await create_endpoint(store, org.id, spec)
    return key


async def tipped(store: Store, pledgers: int = 2) -> tuple[Campaign, str, list[int]]:
    lead, lead_key = await make_lead(store)
    campaign = await make_campaign(store, lead, target=pledgers)
    ids = [await make_confirmed_pledge(store, campaign.slug, i) for i in range(pledgers)]
    return campaign, lead_key, ids


def fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


async def unchanged(store: Store, before: dict[str, Any]) -> bool:
    return await table_snapshot(store) == before


async def test_only_a_covering_provider_may_post_and_422s_name_the_fields(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign, _, _ = await tipped(store)
    path = f"/api/v1/campaigns/{campaign.slug}/offers"
    elsewhere = await organisation(store, "SouthNet", prefixes=("SW",))
    council = await organisation(store, "Leeds City Council", kind="council")
    provider = await organisation(store, "FibreCo")
    before = await table_snapshot(store)

    far = await client.post(path, json=offer_body("Fibre", 2500), headers=bearer(elsewhere))
    assert far.status_code == 403
    assert "endpoints covers this campaign" in far.json()["detail"]
    by_council = await client.post(path, json=offer_body("Fibre", 2500), headers=bearer(council))
    assert by_council.status_code == 403
    assert by_council.json()["detail"] == "Only providers post offers and delivery milestones."
    assert (await client.post(path, json=offer_body("Fibre", 2500))).status_code == 401

    both = offer_body("Fibre", 2500, no_social_tariff="None.")
    refused = await client.post(path, json=both, headers=bearer(provider))
    assert refused.status_code == 422 and fields(refused) == ["no_social_tariff"]
    neither = offer_body("Fibre", 2500, social_tariff=None)
    refused = await client.post(path, json=neither, headers=bearer(provider))
    assert refused.status_code == 422 and fields(refused) == ["social_tariff"]
    dearer = offer_body("Fibre", 1000, social_tariff={"price": 2000, "who_qualifies": "All."})
    refused = await client.post(path, json=dearer, headers=bearer(provider))
    assert refused.status_code == 422 and fields(refused) == ["social_tariff.price"]
    assert "must not cost more" in refused.json()["errors"][0]["message"]
    shapeless = {"title": "", "price": "25", "period": "week", "valid_until": "2001-01-01"}
    refused = await client.post(path, json=shapeless, headers=bearer(provider))
    assert refused.status_code == 422
    assert {"title", "description", "price", "period"} <= set(fields(refused))
    past = offer_body("Fibre", 2500, valid_until="2001-01-01")
    refused = await client.post(path, json=past, headers=bearer(provider))
    assert refused.status_code == 422 and fields(refused) == ["valid_until"]
    assert await unchanged(store, before)

    # Not before the campaign tipped: a 409 that says so.
    open_campaign = await make_campaign(store, target=50)
    early = await client.post(
        f"/api/v1/campaigns/{open_campaign.slug}/offers",
        json=offer_body("Fibre", 2500),
        headers=bearer(provider),
    )
    assert early.status_code == 409
    assert "tipped" in early.json()["detail"]

    posted = await client.post(path, json=offer_body("Fibre", 2500), headers=bearer(provider))
    assert posted.status_code == 201
    assert posted.json()["chosen"] == 0 and posted.json()["organisation"] == "FibreCo"


async def test_an_offer_is_fixed_once_the_round_opens_and_only_its_provider_may_touch_it(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign, lead_key, _ = await tipped(store)
    path = f"/api/v1/campaigns/{campaign.slug}/offers"
    fibre, cable = await organisation(store, "FibreCo"), await organisation(store, "CableCo")
    posted = await client.post(path, json=offer_body("Fibre", 2500), headers=bearer(fibre))
    one = f"{path}/{posted.json()['id']}"

    # Before the round: its provider edits it; another provider cannot even find it.
    edited = await client.patch(one, json={"price": 2300}, headers=bearer(fibre))
    assert edited.status_code == 200 and edited.json()["price"] == 2300
    swap = {"social_tariff": None, "no_social_tariff": "We have none."}
    edited = await client.patch(one, json=swap, headers=bearer(fibre))
    assert edited.status_code == 200, edited.text
    assert edited.json()["social_tariff"] is None
    assert (await client.patch(one, json={"price": 1}, headers=bearer(cable))).status_code == 404
    withdraw = {"reason": "Not ours to withdraw."}
    assert (
        await client.post(f"{one}/withdraw", json=withdraw, headers=bearer(cable))
    ).status_code == 404
    bad = await client.patch(one, json={"period": "fortnight"}, headers=bearer(fibre))
    assert bad.status_code == 422 and fields(bad) == ["period"]

    # The lead opens the round (another lead cannot; nor can it open twice).
    round_path = f"/api/v1/campaigns/{campaign.slug}/choice-round"
    _, other_lead = await make_lead(store, "other@example.org")
    assert (await client.post(round_path, json={}, headers=bearer(other_lead))).status_code == 403
    soon = await client.post(round_path, json={"closes_at": "2000-01-01"}, headers=bearer(lead_key))
    assert soon.status_code == 422 and fields(soon) == ["closes_at"]
    assert (await client.post(round_path, json={}, headers=bearer(lead_key))).status_code == 201
    again = await client.post(round_path, json={}, headers=bearer(lead_key))
    assert again.status_code == 409

    # Now fixed: a 409 saying why, and nothing changes; no new offer either.
    before = await table_snapshot(store)
    fixed = await client.patch(one, json={"price": 1900}, headers=bearer(fibre))
    assert fixed.status_code == 409
    assert "This offer is fixed: the choice round opened" in fixed.json()["detail"]
    late = await client.post(path, json=offer_body("Cable", 2000), headers=bearer(cable))
    assert late.status_code == 409 and "choice round has opened" in late.json()["detail"]
    assert await unchanged(store, before)
    assert (await client.get(path)).json()["offers"][0]["price"] == 2300

    # Withdrawing still works, with the reason residents see, once.
    gone = await client.post(
        f"{one}/withdraw", json={"reason": "We cannot build here."}, headers=bearer(fibre)
    )
    assert gone.status_code == 200
    assert gone.json()["status"] == "withdrawn"
    assert gone.json()["withdrawn_reason"] == "We cannot build here."
    blank = await client.post(f"{one}/withdraw", json={"reason": " "}, headers=bearer(fibre))
    assert blank.status_code == 422 and fields(blank) == ["reason"]
    twice = await client.post(f"{one}/withdraw", json={"reason": "Again."}, headers=bearer(fibre))
    assert twice.status_code == 409


async def test_totals_and_contacts_are_each_providers_own_and_choices_refuse_clearly(
    app: Starlette, client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    signer = services_of(app).signer
    campaign, lead_key, pledges = await tipped(store, pledgers=3)
    path = f"/api/v1/campaigns/{campaign.slug}/offers"
    fibre, cable = await organisation(store, "FibreCo"), await organisation(store, "CableCo")
    elsewhere = await organisation(store, "SouthNet", prefixes=("SW",))
    fibre_offer = (
        await client.post(path, json=offer_body("Fibre", 2500), headers=bearer(fibre))
    ).json()["id"]
    cable_offer = (
        await client.post(path, json=offer_body("Cable", 2000), headers=bearer(cable))
    ).json()["id"]
    token = signer.sign(pledges[0], "offer-choice")

    # Before the round opens a choice is a 409, and the resident's view says so.
    early = await client.post("/api/v1/choices", json={"token": token, "offer": fibre_offer})
    assert early.status_code == 409
    view = await client.get("/api/v1/choices", params={"token": token})
    assert view.status_code == 200
    assert view.json()["status"] == "not_opened" and view.json()["can_choose"] is False
    assert [o["id"] for o in view.json()["offers"]] == [cable_offer, fibre_offer]

    round_path = f"/api/v1/campaigns/{campaign.slug}/choice-round"
    assert (await client.post(round_path, json={}, headers=bearer(lead_key))).status_code == 201
    before = await table_snapshot(store)
    for body, status, field in (
        ({"token": "not-a-token", "offer": fibre_offer}, 400, "token"),
        ({"token": signer.sign(pledges[0], "pledge-confirm"), "offer": "none"}, 400, "token"),
        ({"token": token, "offer": "off_nothing"}, 422, "offer"),
        ({"token": token, "offer": " "}, 422, "offer"),
        ({"token": token}, 422, "offer"),
        (
            {"token": token, "offer": "none", "needs_social_tariff": "yes"},
            422,
            "needs_social_tariff",
        ),
        ({"offer": "none"}, 422, "token"),
    ):
        refused = await client.post("/api/v1/choices", json=body)
        assert refused.status_code == status, (body, refused.text)
        assert field in fields(refused), refused.json()
    assert (await client.get("/api/v1/choices", params={"token": "x"})).status_code == 400
    assert await unchanged(store, before)

    chose = await client.post(
        "/api/v1/choices", json={"token": token, "offer": fibre_offer, "share_contact": True}
    )
    assert chose.status_code == 200
    assert chose.json()["choice"]["offer"] == fibre_offer and chose.json()["can_choose"]

    # CableCo sees its own totals, not FibreCo's; the public sees none; contacts wait.
    as_cable = {
        o["id"]: o for o in (await client.get(path, headers=bearer(cable))).json()["offers"]
    }
    assert as_cable[cable_offer]["chosen"] == 0 and "chosen" not in as_cable[fibre_offer]
    assert all("chosen" not in o for o in (await client.get(path)).json()["offers"])
    assert (await client.get(round_path, headers=bearer(cable))).status_code == 401
    contacts = f"{round_path}/contacts"
    for key, status in ((cable, 409), (fibre, 409), (elsewhere, 403)):
        assert (await client.get(contacts, headers=bearer(key))).status_code == status
    assert (await client.get(path, headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_the_worker_opens_a_round_14_days_after_the_first_offer_and_closes_it(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign, _, _ = await tipped(store)
    path = f"/api/v1/campaigns/{campaign.slug}/offers"
    fibre = await organisation(store, "FibreCo")
    posted = await client.post(path, json=offer_body("Fibre", 2500), headers=bearer(fibre))
    assert posted.status_code == 201
    round_path = f"/api/v1/campaigns/{campaign.slug}/choice-round"
    worker = make_worker(store)
    try:
        await worker.dispatch(now=utcnow() + timedelta(days=13))
        assert (await client.get(round_path)).json()["status"] == "not_opened"
        await worker.dispatch(now=utcnow() + timedelta(days=14, minutes=1))
        opened = (await client.get(round_path)).json()
        assert opened["status"] == "open" and opened["round"]["opened_by"] == "auto"
        closes_at = datetime.fromisoformat(opened["round"]["closes_at"])
        await worker.dispatch(now=closes_at + timedelta(seconds=1))
    finally:
        await worker.aclose()
    closed = (await client.get(round_path)).json()
    assert closed["status"] == "closed"
    assert closed["results"]["offers"][0]["id"] == posted.json()["id"]
