"""The webhook API of providers and councils: endpoints, keys, validation, deliveries,
recovery and the contacts of a tipped campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.main import create_app, services_of
from pledges.accounts import create_organisation_api_key, organisation_for_key
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge, withdraw_pledge
from pledges.store import Store, utcnow
from tests.conftest import make_settings, table_snapshot, wait_for
from tests.factories import approve, make_campaign, make_lead, pledge_data
from tests.receiver import Receiver, run_receiver

PUBLIC_URL = "https://93.184.216.34/hook"  # a global address: no DNS, never contacted here
ENDPOINTS = "/api/v1/webhook-endpoints"
PROBLEM = "application/problem+json"


@dataclass
class Keys:
    mine: str
    theirs: str
    lead: str


@pytest.fixture
def app_store(app: Starlette) -> Store:
    return services_of(app).store


@pytest.fixture
async def keys(app_store: Store) -> Keys:
    _, mine = await create_organisation_api_key(
        app_store, "ops@fibreco.example", "FibreCo", "provider"
    )
    _, theirs = await create_organisation_api_key(
        app_store, "clerk@leeds.example", "Leeds City Council", "council"
    )
    _, lead = await make_lead(app_store)
    return Keys(mine, theirs, lead)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def register(client: httpx.AsyncClient, key: str, **data: Any) -> dict[str, Any]:
    answer = await client.post(ENDPOINTS, headers=bearer(key), json={"url": PUBLIC_URL, **data})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


# --- endpoints -------------------------------------------------------------------------


async def test_an_endpoint_is_created_listed_read_changed_and_deleted(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    answer = await client.post(
        ENDPOINTS,
        headers=bearer(keys.mine),
        json={
            "url": PUBLIC_URL,
            "description": " Planning team ",
            "event_types": ["campaign.tipped", "campaign.opened", "campaign.tipped"],
            "filters": {"categories": ["broadband"], "postcode_prefixes": ["ls 6", "m"]},
        },
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert answer.headers["location"] == f"{ENDPOINTS}/{created['id']}"
    assert created["id"].startswith("ep_")
    assert created["secret"].startswith("whsec_")
    assert created["url"] == PUBLIC_URL
    assert created["description"] == "Planning team"
    assert created["event_types"] == ["campaign.opened", "campaign.tipped"]
    assert created["filters"] == {
        "categories": ["broadband"],
        "postcode_prefixes": ["LS6", "M"],
        "campaigns": [],
    }
    assert created["status"] == "active"
    secret = created["secret"]
    path = f"{ENDPOINTS}/{created['id']}"

    listed = await client.get(ENDPOINTS, headers=bearer(keys.mine))
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["endpoints"]] == [created["id"]]
    read = await client.get(path, headers=bearer(keys.mine))
    assert read.status_code == 200
    assert read.json() == {k: v for k, v in created.items() if k != "secret"}
    for shown in (listed, read):  # the secret is shown at creation and rotation only
        assert "secret" not in shown.text

    changed = await client.patch(
        path,
        headers=bearer(keys.mine),
        json={"description": "Build team", "filters": {"campaigns": ["fibre-for-ls6"]}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "Build team"
    assert changed.json()["filters"]["campaigns"] == ["fibre-for-ls6"]
    assert changed.json()["url"] == PUBLIC_URL
    assert changed.json()["event_types"] == ["campaign.opened", "campaign.tipped"]
    assert secret not in changed.text and "secret" not in changed.json()

    paused = await client.patch(path, headers=bearer(keys.mine), json={"status": "disabled"})
    assert paused.json()["status"] == "disabled"
    assert paused.json()["disabled_reason"] == "Disabled by the organisation."
    refused = await client.post(f"{path}/test", headers=bearer(keys.mine))
    assert refused.status_code == 409
    resumed = await client.patch(path, headers=bearer(keys.mine), json={"status": "active"})
    assert resumed.json()["status"] == "active"
    assert resumed.json()["disabled_reason"] is None

    deleted = await client.delete(path, headers=bearer(keys.mine))
    assert deleted.status_code == 204
    assert (await client.get(path, headers=bearer(keys.mine))).status_code == 404
    assert (await client.get(ENDPOINTS, headers=bearer(keys.mine))).json() == {"endpoints": []}
    again = await client.delete(path, headers=bearer(keys.mine))
    assert again.status_code == 404


async def test_rotation_shows_the_new_secret_once(client: httpx.AsyncClient, keys: Keys) -> None:
    created = await register(client, keys.mine)
    path = f"{ENDPOINTS}/{created['id']}"
    rotated = await client.post(f"{path}/rotate-secret", headers=bearer(keys.mine))
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["previous_secret_expires_at"] is not None
    read = await client.get(path, headers=bearer(keys.mine))
    assert body["secret"] not in read.text and created["secret"] not in read.text


def every_route(endpoint_id: str, delivery_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    path = f"{ENDPOINTS}/{endpoint_id}"
    since = {"since": (utcnow() - timedelta(hours=1)).isoformat()}
    return [
        ("GET", path, {}),
        ("PATCH", path, {"description": "taken over"}),
        ("DELETE", path, {}),
        ("POST", f"{path}/rotate-secret", {}),
        ("POST", f"{path}/test", {}),
        ("GET", f"{path}/deliveries", {}),
        ("POST", f"{path}/recover", since),
        ("POST", f"/api/v1/deliveries/{delivery_id}/retry", {}),
    ]


async def test_another_organisations_key_finds_nothing_of_mine(
    client: httpx.AsyncClient, keys: Keys, app_store: Store
) -> None:
    created = await register(client, keys.mine)
    test = await client.post(f"{ENDPOINTS}/{created['id']}/test", headers=bearer(keys.mine))
    delivery_id = test.json()["delivery"]
    before = await table_snapshot(app_store)
    for method, path, body in every_route(created["id"], delivery_id):
        answer = await client.request(
            method, path, headers=bearer(keys.theirs), json=body if body else None
        )
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.headers["content-type"] == PROBLEM
    listed = await client.get(ENDPOINTS, headers=bearer(keys.theirs))
    assert listed.json() == {"endpoints": []}
    assert await table_snapshot(app_store) == before


@pytest.mark.parametrize("who", ["no key", "lead key", "unknown key", "not bearer"])
async def test_only_an_organisation_key_is_let_in(
    client: httpx.AsyncClient, keys: Keys, app_store: Store, who: str
) -> None:
    created = await register(client, keys.mine)
    test = await client.post(f"{ENDPOINTS}/{created['id']}/test", headers=bearer(keys.mine))
    headers = {
        "no key": {},
        "lead key": bearer(keys.lead),
        "unknown key": bearer("gs_" + "x" * 43),
        "not bearer": {"Authorization": f"Basic {keys.mine}"},
    }[who]
    routes = [
        ("GET", ENDPOINTS, {}),
        ("POST", ENDPOINTS, {"url": PUBLIC_URL}),
        ("GET", "/api/v1/campaigns/any-campaign/contacts", {}),
        *every_route(created["id"], test.json()["delivery"]),
    ]
    before = await table_snapshot(app_store)
    for method, path, body in routes:
        answer = await client.request(method, path, headers=headers, json=body if body else None)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert await table_snapshot(app_store) == before


# --- validation ------------------------------------------------------------------------

INVALID = [
    pytest.param({"url": "http://93.184.216.34/hook"}, "url", id="url-not-https"),
    pytest.param({"url": "https://127.0.0.1/hook"}, "url", id="url-loopback"),
    pytest.param({"url": "https://localhost:8443/hook"}, "url", id="url-name-for-loopback"),
    pytest.param({"url": "https://10.1.2.3/hook"}, "url", id="url-private"),
    pytest.param({"url": "https://169.254.169.254/latest/"}, "url", id="url-metadata"),
    pytest.param({"url": "https://[::ffff:127.0.0.1]/hook"}, "url", id="url-mapped-loopback"),
    pytest.param({"url": "https://u:p@93.184.216.34/hook"}, "url", id="url-credentials"),
    pytest.param({"url": ""}, "url", id="url-empty"),
    pytest.param({"url": None}, "url", id="url-missing"),
    pytest.param({"event_types": ["campaign.exploded"]}, "event_types[0]", id="unknown-event"),
    pytest.param({"event_types": "campaign.tipped"}, "event_types", id="event-types-not-list"),
    pytest.param({"filters": {"categories": ["fibre"]}}, "filters.categories[0]", id="category"),
    pytest.param(
        {"filters": {"postcode_prefixes": ["LS6 1AB"]}},
        "filters.postcode_prefixes[0]",
        id="prefix-full-postcode",
    ),
    pytest.param(
        {"filters": {"postcode_prefixes": ["12"]}}, "filters.postcode_prefixes[0]", id="prefix"
    ),
    pytest.param(
        {"filters": {"campaigns": ["Not A Slug"]}}, "filters.campaigns[0]", id="campaign-slug"
    ),
    pytest.param({"filters": {"colour": ["red"]}}, "filters.colour", id="unknown-filter"),
    pytest.param({"filters": ["LS"]}, "filters", id="filters-not-object"),
    pytest.param({"secret": "whsec_my_own"}, "secret", id="unknown-field"),
    pytest.param({"description": 42}, "description", id="description-not-text"),
    pytest.param({"status": "deleted"}, "status", id="status"),
]


def error_fields(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json().get("errors", [])]


async def test_an_invalid_endpoint_is_refused_naming_the_field(
    client: httpx.AsyncClient, keys: Keys, app_store: Store
) -> None:
    before = await table_snapshot(app_store)
    for param in INVALID:
        change, field = param.values
        data = {"url": PUBLIC_URL, **change}
        if data["url"] is None:
            del data["url"]
        answer = await client.post(ENDPOINTS, headers=bearer(keys.mine), json=data)
        assert answer.status_code == 422, (param.id, answer.text)
        assert answer.headers["content-type"] == PROBLEM, param.id
        assert error_fields(answer) == [field], param.id
    assert await table_snapshot(app_store) == before


async def test_an_invalid_change_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, keys: Keys, app_store: Store
) -> None:
    created = await register(client, keys.mine, description="as it was")
    path = f"{ENDPOINTS}/{created['id']}"
    before = await table_snapshot(app_store)
    for param in INVALID:
        change, field = param.values
        if change.get("url") is None and "url" in change:
            continue  # leaving the url out of a change is allowed
        # A valid change beside the invalid one is not applied either.
        answer = await client.patch(
            path, headers=bearer(keys.mine), json={"description": "changed", **change}
        )
        assert answer.status_code == 422, (param.id, answer.text)
        assert answer.headers["content-type"] == PROBLEM
        assert field in error_fields(answer), param.id
    assert await table_snapshot(app_store) == before


async def test_every_problem_is_named_at_once(client: httpx.AsyncClient, keys: Keys) -> None:
    answer = await client.post(
        ENDPOINTS,
        headers=bearer(keys.mine),
        json={
            "url": "http://10.0.0.1/hook",
            "event_types": ["campaign.tipped", "pledge.created"],
            "filters": {"categories": ["broadband", "fibre"], "postcode_prefixes": ["LS6", "6LS"]},
            "colour": "red",
        },
    )
    assert answer.status_code == 422
    assert sorted(error_fields(answer)) == [
        "colour",
        "event_types[1]",
        "filters.categories[1]",
        "filters.postcode_prefixes[1]",
        "url",
    ]


async def test_recover_needs_a_past_time_with_a_zone(
    client: httpx.AsyncClient, keys: Keys, app_store: Store
) -> None:
    created = await register(client, keys.mine)
    before = await table_snapshot(app_store)
    for body in (
        {},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},  # no zone
        {"since": (utcnow() + timedelta(days=1)).isoformat()},
        {"since": 1700000000},
    ):
        answer = await client.post(
            f"{ENDPOINTS}/{created['id']}/recover", headers=bearer(keys.mine), json=body
        )
        assert answer.status_code == 422, body
        assert error_fields(answer) == ["since"], body
    assert await table_snapshot(app_store) == before


# --- deliveries ------------------------------------------------------------------------


@pytest.fixture
async def private_app(database_url: str) -> AsyncIterator[Starlette]:
    """The app allowing receivers on 127.0.0.1, with a short retry schedule; no worker runs
    unless the test drives it."""
    settings = make_settings(
        database_url,
        webhook_allow_private_networks=True,
        webhook_retry_schedule=(0, 0.05, 0.05),
        webhook_timeout_seconds=3.0,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_deliveries_list_every_attempt(private_app: Starlette) -> None:
    services = services_of(private_app)
    _, key = await create_organisation_api_key(
        services.store, "ops@fibreco.example", "FibreCo", "provider"
    )
    transport = httpx.ASGITransport(app=private_app)
    async with (
        run_receiver(Receiver(script=[503, 500])) as receiver,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        created = await register(client, key, url=receiver.url)
        path = f"{ENDPOINTS}/{created['id']}/deliveries"
        campaign = await make_campaign(services.store)

        async def delivered() -> list[dict[str, Any]] | None:
            await services.worker.run_once()
            listed = (await client.get(path, headers=bearer(key))).json()["deliveries"]
            return listed if listed and listed[0]["status"] == "succeeded" else None

        [delivery] = await wait_for(delivered)
        too_many = await client.get(f"{path}?limit=0", headers=bearer(key))

    assert delivery["id"].startswith("dlv_")
    assert delivery["event_type"] == "campaign.opened"
    assert delivery["payload"]["data"]["campaign"]["slug"] == campaign.slug
    assert delivery["message_id"] == receiver.requests[0].headers["webhook-id"]
    assert delivery["attempt_count"] == 3
    assert delivery["next_attempt_at"] is None
    assert delivery["completed_at"] is not None
    attempts = delivery["attempts"]
    assert [a["status_code"] for a in attempts] == [503, 500, 200]
    assert [a["response_body"] for a in attempts] == ["answer 503", "answer 500", "answer 200"]
    assert all(a["error"] is None and a["duration_ms"] >= 0 for a in attempts)
    assert all(a["attempted_at"] for a in attempts)
    assert too_many.status_code == 422
    assert error_fields(too_many) == ["limit"]


# --- contacts --------------------------------------------------------------------------


async def pledge(store: Store, slug: str, i: int, *, share: bool, confirm: bool = True) -> int:
    outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i, share_contact=share)))
    if confirm:
        await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


async def test_contacts_are_the_consenting_confirmed_pledgers_of_a_tipped_campaign(
    client: httpx.AsyncClient, keys: Keys, app_store: Store
) -> None:
    # Contacts go through an endpoint whose filters name the category and area.
    await register(
        client, keys.mine, filters={"categories": ["broadband"], "postcode_prefixes": ["LS6"]}
    )
    await register(client, keys.theirs, filters={"categories": ["waste"]})
    _, no_endpoint = await create_organisation_api_key(
        app_store, "ops@wastecorp.example", "WasteCorp", "provider"
    )
    _, paused_key = await create_organisation_api_key(
        app_store, "ops@paused.example", "PausedNet", "provider"
    )
    # All approved by an administrator: each refusal below is for its endpoints.
    for key in (keys.mine, keys.theirs, no_endpoint, paused_key):
        org = await organisation_for_key(app_store.database, key)
        assert org is not None
        await approve(app_store, org.id)
    paused = await register(client, paused_key)
    await client.patch(
        f"{ENDPOINTS}/{paused['id']}", headers=bearer(paused_key), json={"status": "disabled"}
    )

    campaign = await make_campaign(app_store, target=2, category="broadband")
    url = f"/api/v1/campaigns/{campaign.slug}/contacts"
    await pledge(app_store, campaign.slug, 0, share=True)
    early = await client.get(url, headers=bearer(keys.mine))
    assert early.status_code == 409
    assert early.headers["content-type"] == PROBLEM

    await pledge(app_store, campaign.slug, 1, share=False)  # tips it
    await pledge(app_store, campaign.slug, 2, share=True, confirm=False)
    await pledge(app_store, campaign.slug, 3, share=True)
    gone = await pledge(app_store, campaign.slug, 4, share=True)
    await withdraw_pledge(app_store, gone)

    answer = await client.get(url, headers=bearer(keys.mine))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "campaign": campaign.slug,
        "contacts": [
            {"name": "Resident 0", "email": "resident0@example.org", "postcode": "LS6 1AB"},
            {"name": "Resident 3", "email": "resident3@example.org", "postcode": "LS6 1AB"},
        ],
    }

    for other in (keys.theirs, no_endpoint, paused_key):
        refused = await client.get(url, headers=bearer(other))
        assert refused.status_code == 403
        assert "resident" not in refused.text
    assert (await client.get(url, headers=bearer(keys.lead))).status_code == 401
    assert (await client.get(url)).status_code == 401
    missing = await client.get(
        "/api/v1/campaigns/no-such-campaign/contacts", headers=bearer(keys.mine)
    )
    assert missing.status_code == 404
