"""POST and GET /api/v1/campaigns/{slug}/responses: who may respond and when, what is
refused (403, 409, 422, 429 with a clear message, nothing stored), and the public list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.main import services_of
from notifications.endpoints import create_endpoint, parse_endpoint
from pledges.accounts import Organisation, create_organisation_api_key
from pledges.campaigns import Campaign, get_campaign
from pledges.store import Store
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge


@pytest.fixture
def store_of_app(app: Starlette) -> Store:
    return services_of(app).store


async def organisation(
    store: Store, name: str, kind: str, filters: dict[str, Any] | None = None
) -> tuple[Organisation, dict[str, str]]:
    """An organisation with one active endpoint covering `filters` (everything if None)."""
    email = f"ops@{name.lower().replace(' ', '')}.example"
    org, key = await create_organisation_api_key(store, email, name, kind)
    spec = await parse_endpoint(
        {"url": "http://127.0.0.1:9/hook", "filters": filters or {}},
        partial=False,
        allow_private=True,
    )
    await create_endpoint(store, org.id, spec)
    return org, {"Authorization": f"Bearer {key}"}


async def tipped(store: Store) -> Campaign:
    campaign = await make_campaign(store, target=1)
    await make_confirmed_pledge(store, campaign.slug, 0)
    return await get_campaign(store.database, campaign.slug)


def path(campaign: Campaign) -> str:
    return f"/api/v1/campaigns/{campaign.slug}/responses"


async def test_an_organisation_whose_endpoints_do_not_cover_the_campaign_is_refused(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign = await tipped(store)
    _, elsewhere = await organisation(store, "MancNet", "provider", {"postcode_prefixes": ["M"]})
    _, other_category = await organisation(store, "BinCo", "provider", {"categories": ["waste"]})
    _, key = await create_organisation_api_key(
        store, "ops@nowhere.example", "NoEndpoints", "provider"
    )
    before = await table_snapshot(store)

    for headers in (elsewhere, other_category, {"Authorization": f"Bearer {key}"}):
        refused = await client.post(path(campaign), headers=headers, json={"body": "Hello."})
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "webhook endpoints covers this campaign" in refused.json()["detail"]
    assert await table_snapshot(store) == before


async def test_a_provider_responds_only_once_the_campaign_tipped(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign = await make_campaign(store, target=2)
    await make_confirmed_pledge(store, campaign.slug, 0)  # 50 %: a milestone, not the tip
    _, provider = await organisation(store, "FibreCo", "provider")
    before = await table_snapshot(store)

    early = await client.post(path(campaign), headers=provider, json={"body": "Hello."})
    assert early.status_code == 409
    assert "once the campaign has tipped" in early.json()["detail"]
    assert await table_snapshot(store) == before

    await make_confirmed_pledge(store, campaign.slug, 1)  # it tips
    answered = await client.post(path(campaign), headers=provider, json={"body": "Hello."})
    assert answered.status_code == 201, answered.text


async def test_a_council_responds_from_the_first_milestone(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign = await make_campaign(store, target=4)
    _, council = await organisation(store, "Leeds City Council", "council", {"categories": []})
    before = await table_snapshot(store)
    early = await client.post(path(campaign), headers=council, json={"body": "We are watching."})
    assert early.status_code == 409
    assert "a council once it has reached a milestone" in early.json()["detail"]
    assert await table_snapshot(store) == before

    await make_confirmed_pledge(store, campaign.slug, 0)  # 25 %: the first milestone
    assert (await get_campaign(store.database, campaign.slug)).status == "open"
    answered = await client.post(
        path(campaign), headers=council, json={"body": "We will meet the campaign."}
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["organisation"] == {"name": "Leeds City Council", "kind": "council"}


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ({"body": ""}, None),
        ({"body": "   \n  "}, "Enter the response."),
        ({}, None),
        ({"body": 5}, None),
        ({"body": "x" * 5001}, "The response must be 5000 characters or fewer."),
        ({"body": "nul \x00 here"}, "The response must not contain a NUL character."),
    ],
)
async def test_a_response_without_proper_text_is_a_422_naming_body(
    client: httpx.AsyncClient, store_of_app: Store, sent: dict[str, Any], message: str | None
) -> None:
    store = store_of_app
    campaign = await tipped(store)
    _, provider = await organisation(store, "FibreCo", "provider")
    before = await table_snapshot(store)
    refused = await client.post(path(campaign), headers=provider, json=sent)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "body"
    if message is not None:
        assert error["message"] == message
    assert await table_snapshot(store) == before


async def test_a_second_response_the_same_day_is_a_429_with_retry_after(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign = await tipped(store)
    _, provider = await organisation(store, "FibreCo", "provider")
    _, other = await organisation(store, "NetCo", "provider")
    assert (
        await client.post(path(campaign), headers=provider, json={"body": "First."})
    ).status_code == 201
    before = await table_snapshot(store)
    again = await client.post(path(campaign), headers=provider, json={"body": "Second."})
    assert again.status_code == 429
    assert "one response a day" in again.json()["detail"]
    assert 23 * 3600 < int(again.headers["Retry-After"]) <= 24 * 3600
    assert await table_snapshot(store) == before
    # Another provider is not held back by it.
    assert (
        await client.post(path(campaign), headers=other, json={"body": "Ours."})
    ).status_code == 201


async def test_keys_and_campaigns_that_are_not_there(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign = await tipped(store)
    draft = await make_campaign(store, draft=True)
    _, provider = await organisation(store, "FibreCo", "provider")
    assert (await client.post(path(campaign), json={"body": "Hi."})).status_code == 401
    missing = "/api/v1/campaigns/no-such-campaign/responses"
    assert (await client.post(missing, headers=provider, json={"body": "Hi."})).status_code == 404
    assert (await client.get(missing)).status_code == 404
    assert (await client.post(path(draft), headers=provider, json={"body": "Hi."})).status_code == (
        404
    )
    assert (await client.get(path(draft))).status_code == 404


async def test_anyone_reads_the_responses_oldest_first(
    client: httpx.AsyncClient, store_of_app: Store
) -> None:
    store = store_of_app
    campaign = await tipped(store)
    empty = await client.get(path(campaign))
    assert empty.status_code == 200
    assert empty.json() == {"campaign": campaign.slug, "responses": []}
    _, fibre = await organisation(store, "FibreCo", "provider")
    _, council = await organisation(store, "Leeds City Council", "council")
    first = await client.post(path(campaign), headers=fibre, json={"body": "First."})
    second = await client.post(path(campaign), headers=council, json={"body": "Second."})
    listed = (await client.get(path(campaign))).json()["responses"]
    assert listed == [first.json(), second.json()]
