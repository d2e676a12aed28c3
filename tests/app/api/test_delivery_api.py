"""The delivery record through /api/v1: only a provider residents chose posts and changes
milestones (403 or 409 with a clear message otherwise, nothing stored); fields at fault
are named; anyone reads the record with its served counts."""

from __future__ import annotations

from datetime import timedelta

import httpx
from starlette.applications import Starlette

from pledges.accounts import create_organisation_api_key
from pledges.delivery import confirm_service
from pledges.store import utcnow
from tests.conftest import table_snapshot
from tests.factories import make_delivered_campaign


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def in_days(days: int) -> str:
    return (utcnow().date() + timedelta(days=days)).isoformat()


async def test_only_the_chosen_provider_posts_and_anyone_reads(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = app.state.services.store
    delivered = await make_delivered_campaign(store)
    url = f"/api/v1/campaigns/{delivered.campaign.slug}/delivery"
    milestone = {"kind": "survey", "title": "Survey every street", "due_on": in_days(14)}
    _, stranger_key = await create_organisation_api_key(
        store, "ops@far.example", "FarAwayNet", "provider"
    )

    before = await table_snapshot(store)
    refused = await client.post(url, json=milestone, headers=bearer(delivered.rival_key))
    assert refused.status_code == 403
    assert "No resident chose an offer of yours" in refused.json()["detail"]
    not_covering = await client.post(url, json=milestone, headers=bearer(stranger_key))
    assert not_covering.status_code == 403
    assert "endpoints covers" in not_covering.json()["detail"]
    assert (await client.post(url, json=milestone)).status_code == 401
    assert await table_snapshot(store) == before

    posted = await client.post(url, json=milestone, headers=bearer(delivered.provider_key))
    assert posted.status_code == 201, posted.text
    body = posted.json()
    assert body["id"].startswith("dlm_")
    assert (body["kind"], body["status"], body["due_on"], body["done_on"]) == (
        "survey",
        "planned",
        in_days(14),
        None,
    )
    assert body["provider"] == delivered.provider.name

    # The rival cannot touch it either.
    change_url = f"{url}/{body['id']}"
    before = await table_snapshot(store)
    other = await client.patch(
        change_url, json={"done_on": in_days(0)}, headers=bearer(delivered.rival_key)
    )
    assert other.status_code == 403
    assert await table_snapshot(store) == before

    moved = await client.patch(
        change_url, json={"due_on": in_days(20)}, headers=bearer(delivered.provider_key)
    )
    assert moved.status_code == 200 and moved.json()["due_on"] == in_days(20)
    done = await client.patch(
        change_url, json={"done_on": in_days(0)}, headers=bearer(delivered.provider_key)
    )
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["done_on"]) == ("done", in_days(0))
    fixed = await client.patch(
        change_url, json={"due_on": in_days(30)}, headers=bearer(delivered.provider_key)
    )
    assert fixed.status_code == 409 and "no longer change" in fixed.json()["detail"]
    missing = await client.patch(
        f"{url}/dlm_nope", json={"done_on": in_days(0)}, headers=bearer(delivered.provider_key)
    )
    assert missing.status_code == 404

    await confirm_service(store, delivered.choosers[0])
    record = await client.get(url)  # no key: public
    assert record.status_code == 200
    [provider] = record.json()["providers"]
    assert provider["provider"] == delivered.provider.name
    assert [m["status"] for m in provider["milestones"]] == ["done"]
    [offer] = provider["offers"]
    assert (offer["id"], offer["chosen"], offer["served"]) == (delivered.offer.public_id, 3, 1)
    assert offer["summary"] == "1 of 3 people who chose it says the service reached them"
    assert (await client.get("/api/v1/campaigns/no-such-campaign/delivery")).status_code == 404


async def test_before_the_round_closes_it_is_a_409_and_the_record_is_empty(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = app.state.services.store
    delivered = await make_delivered_campaign(store, closed=False)
    url = f"/api/v1/campaigns/{delivered.campaign.slug}/delivery"
    before = await table_snapshot(store)
    early = await client.post(
        url,
        json={"kind": "build", "title": "Dig", "due_on": in_days(3)},
        headers=bearer(delivered.provider_key),
    )
    assert early.status_code == 409 and "choice round has closed" in early.json()["detail"]
    assert await table_snapshot(store) == before
    record = (await client.get(url)).json()
    assert record == {
        "campaign": delivered.campaign.slug,
        "round_closed_at": None,
        "providers": [],
    }


async def test_fields_at_fault_are_named(app: Starlette, client: httpx.AsyncClient) -> None:
    store = app.state.services.store
    delivered = await make_delivered_campaign(store)
    url = f"/api/v1/campaigns/{delivered.campaign.slug}/delivery"
    headers = bearer(delivered.provider_key)
    before = await table_snapshot(store)

    wrong = await client.post(
        url, json={"kind": "dig", "title": "", "due_on": "tomorrow"}, headers=headers
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"kind", "title", "due_on"}
    past = await client.post(
        url, json={"kind": "build", "title": "Dig", "due_on": in_days(-1)}, headers=headers
    )
    assert past.status_code == 422
    assert past.json()["errors"] == [
        {"field": "due_on", "message": "The due date must be today or later."}
    ]
    assert await table_snapshot(store) == before

    posted = await client.post(
        url, json={"kind": "build", "title": "Dig", "due_on": in_days(3)}, headers=headers
    )
    change_url = f"{url}/{posted.json()['id']}"
    for body, field in (
        ({}, "body"),
        ({"done_on": in_days(2)}, "done_on"),
        ({"done_on": None}, "done_on"),
        ({"due_on": "2027-02-30"}, "due_on"),
        ({"status": "done"}, "status"),
    ):
        answer = await client.patch(change_url, json=body, headers=headers)
        assert answer.status_code == 422, body
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.json()
