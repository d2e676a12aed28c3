"""The lead's API matches the lead's pages: edit, publish, cancel, read the pledges (the
CSV's columns, a page at a time), post updates. Another lead's key gets 403 and changes
nothing; lists are cursor-paginated and stable while rows arrive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pledges.accounts import Lead
from pledges.campaigns import get_campaign
from pledges.journal import events_for_campaign
from pledges.pledge_rows import COLUMNS
from pledges.store import Store, utcnow
from pledges.updates import list_updates

# Every answer of these tests is one the document declares (test_api's autouse fixture).
from tests.app.api.test_api import bearer, every_answer_is_declared  # noqa: F401
from tests.conftest import table_snapshot
from tests.factories import (
    make_campaign,
    make_confirmed_pledge,
    make_lead,
    make_pending_pledges,
)


@pytest.fixture
async def leads(store: Store) -> tuple[Lead, dict[str, str], dict[str, str]]:
    lead, key = await make_lead(store)
    _, other = await make_lead(store, "someone-else@example.org")
    return lead, bearer(key), bearer(other)


def _later(days: int) -> str:
    return (utcnow() + timedelta(days=days)).date().isoformat()


# ----- editing -----------------------------------------------------------------------------


async def test_a_draft_changes_in_every_field_sent_and_keeps_the_rest(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    draft = await make_campaign(store, lead, draft=True)
    change = {
        "title": "Glass collection for Otley Road",
        "category": "waste",
        "area": {"name": "Far Headingley", "postcode_districts": ["LS16"]},
        "target": 80,
    }

    answer = await client.patch(f"/api/v1/campaigns/{draft.slug}", json=change, headers=mine)

    assert answer.status_code == 200
    body = answer.json()
    assert body["title"] == change["title"] and body["category"] == "waste"
    assert body["area"] == change["area"] and body["threshold"]["target"] == 80
    assert body["summary"] == draft.summary and body["status"] == "draft"
    stored = await get_campaign(store.database, draft.slug)
    assert (stored.title, stored.target, stored.postcode_districts) == (
        change["title"],
        80,
        ("LS16",),
    )


async def test_a_published_campaign_changes_only_its_words_and_a_later_deadline(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    campaign = await make_campaign(store, lead)
    path = f"/api/v1/campaigns/{campaign.slug}"

    words = await client.patch(path, json={"summary": "Now with a longer summary."}, headers=mine)
    later = await client.patch(path, json={"deadline": _later(60)}, headers=mine)

    assert words.status_code == 200 and words.json()["summary"] == "Now with a longer summary."
    assert later.status_code == 200
    assert later.json()["deadline"].startswith(_later(60))
    assert (await get_campaign(store.database, campaign.slug)).title == campaign.title


async def test_a_published_campaign_refuses_other_fields_by_name_and_changes_nothing(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    campaign = await make_campaign(store, lead)
    before = await table_snapshot(store)

    fixed = await client.patch(
        f"/api/v1/campaigns/{campaign.slug}",
        json={"title": "A new title", "target": 5, "category": "waste"},
        headers=mine,
    )
    earlier = await client.patch(
        f"/api/v1/campaigns/{campaign.slug}", json={"deadline": _later(2)}, headers=mine
    )

    assert fixed.status_code == 409
    assert fixed.headers["content-type"] == "application/problem+json"
    assert sorted(e["field"] for e in fixed.json()["errors"]) == ["category", "target"]
    assert earlier.status_code == 422
    assert [e["field"] for e in earlier.json()["errors"]] == ["deadline"]
    assert await table_snapshot(store) == before


async def test_an_edit_is_checked_as_a_new_campaign_is(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    draft = await make_campaign(store, lead, draft=True)
    before = await table_snapshot(store)

    short = await client.patch(
        f"/api/v1/campaigns/{draft.slug}", json={"title": "x", "target": 0}, headers=mine
    )

    assert short.status_code == 422
    assert sorted(e["field"] for e in short.json()["errors"]) == ["target", "title"]
    assert await table_snapshot(store) == before


async def test_a_closed_campaign_takes_no_edit(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    campaign = await make_campaign(store, lead)
    assert (await client.post(f"/api/v1/campaigns/{campaign.slug}/cancel", headers=mine)).is_success

    answer = await client.patch(
        f"/api/v1/campaigns/{campaign.slug}", json={"summary": "Too late now."}, headers=mine
    )

    assert answer.status_code == 409


# ----- publishing and cancelling --------------------------------------------------------


async def test_publishing_opens_a_draft_once(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    draft = await make_campaign(store, lead, draft=True)
    path = f"/api/v1/campaigns/{draft.slug}"
    assert (await client.get(path)).status_code == 404

    published = await client.post(f"{path}/publish", headers=mine)
    again = await client.post(f"{path}/publish", headers=mine)

    assert published.status_code == 200 and published.json()["status"] == "open"
    assert again.status_code == 409
    assert (await client.get(path)).status_code == 200
    kinds = [e.type for e in await events_for_campaign(store.database, draft.id)]
    assert kinds.count("campaign.opened") == 1


async def test_a_draft_past_its_deadline_is_not_published(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    draft = await make_campaign(store, lead, draft=True)
    await store.database.execute(
        "UPDATE campaigns SET deadline = :d WHERE id = :i",
        {"d": utcnow() - timedelta(hours=1), "i": draft.id},
    )
    before = await table_snapshot(store)

    answer = await client.post(f"/api/v1/campaigns/{draft.slug}/publish", headers=mine)

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["deadline"]
    assert await table_snapshot(store) == before


async def test_cancelling_closes_the_campaign(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    campaign = await make_campaign(store, lead)

    cancelled = await client.post(f"/api/v1/campaigns/{campaign.slug}/cancel", headers=mine)
    again = await client.post(f"/api/v1/campaigns/{campaign.slug}/cancel", headers=mine)

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert (await get_campaign(store.database, campaign.slug)).status == "cancelled"


# ----- another lead, no key -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"summary": "Somebody else's words."}),
        ("POST", "/publish", None),
        ("POST", "/cancel", None),
        ("GET", "/pledges", None),
        ("POST", "/updates", {"title": "Hello", "body": "Not my campaign."}),
    ],
)
async def test_another_leads_key_gets_403_and_changes_nothing(
    client: httpx.AsyncClient,
    store: Store,
    leads: Any,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    lead, _, theirs = leads
    campaign = await make_campaign(store, lead, draft=suffix == "/publish")
    if suffix != "/publish":
        await make_confirmed_pledge(store, campaign.slug)
    before = await table_snapshot(store)
    path = f"/api/v1/campaigns/{campaign.slug}{suffix}"

    forbidden = await client.request(method, path, json=body, headers=theirs)
    anonymous = await client.request(method, path, json=body)

    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    assert anonymous.status_code == 401
    assert await table_snapshot(store) == before


# ----- the pledges ----------------------------------------------------------------------


async def test_the_pledges_have_the_csvs_columns_page_by_page(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    campaign = await make_campaign(store, lead)
    await make_pending_pledges(store, campaign.slug, 3)
    await make_confirmed_pledge(store, campaign.slug, i=7, share_contact=True)
    path = f"/api/v1/campaigns/{campaign.slug}/pledges"

    first = await client.get(path, params={"limit": 3}, headers=mine)
    rest = await client.get(path, params={"limit": 3, "cursor": first.json()["next"]}, headers=mine)

    assert first.status_code == rest.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    rows = first.json()["pledges"] + rest.json()["pledges"]
    assert len(rows) == 4 and "next" not in rest.json()
    assert all(list(row) == list(COLUMNS) for row in rows)
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert {r["status"] for r in rows} == {"pending", "confirmed"}
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    assert parse_qs(urlsplit(link[1 : link.index(">")]).query)["cursor"] == [first.json()["next"]]


# ----- updates --------------------------------------------------------------------------


async def test_an_update_is_posted_once_a_day(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    campaign = await make_campaign(store, lead)
    path = f"/api/v1/campaigns/{campaign.slug}/updates"

    posted = await client.post(path, json={"title": "Halfway", "body": "Thank you."}, headers=mine)
    second = await client.post(path, json={"title": "Again", "body": "Too soon."}, headers=mine)
    empty = await client.post(path, json={"title": " ", "body": ""}, headers=mine)

    assert posted.status_code == 201
    assert posted.json()["title"] == "Halfway" and posted.json()["body"] == "Thank you."
    assert second.status_code == 429 and int(second.headers["retry-after"]) > 0
    assert empty.status_code == 422
    assert sorted(e["field"] for e in empty.json()["errors"]) == ["body", "title"]
    assert [u.title for u in await list_updates(store.database, campaign.id)] == ["Halfway"]


async def test_a_draft_takes_no_update(client: httpx.AsyncClient, store: Store, leads: Any) -> None:
    lead, mine, _ = leads
    draft = await make_campaign(store, lead, draft=True)
    answer = await client.post(
        f"/api/v1/campaigns/{draft.slug}/updates",
        json={"title": "Hello", "body": "Not yet."},
        headers=mine,
    )
    assert answer.status_code == 409


# ----- pagination of the public list and of deliveries ---------------------------------


async def test_the_campaign_list_pages_through_every_campaign_once(
    client: httpx.AsyncClient, store: Store
) -> None:
    made = [await make_campaign(store, deadline=_later(10 + i)) for i in range(5)]

    seen: list[str] = []
    answer = await client.get("/api/v1/campaigns", params={"limit": 2})
    first_next = answer.json()["next"]
    await make_campaign(store, deadline=_later(5))  # before the cursor: moves nothing
    while True:
        assert answer.status_code == 200
        seen += [c["slug"] for c in answer.json()["campaigns"]]
        if "next" not in answer.json():
            assert "link" not in answer.headers
            break
        assert answer.headers["link"].startswith("<http://testserver/api/v1/campaigns?")
        answer = await client.get(
            "/api/v1/campaigns", params={"limit": 2, "cursor": answer.json()["next"]}
        )

    assert first_next
    assert seen == [c.slug for c in made]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": ""}, "cursor"),
    ],
)
async def test_a_bad_page_request_names_its_field(
    client: httpx.AsyncClient, store: Store, query: dict[str, str], field: str
) -> None:
    await make_campaign(store)
    answer = await client.get("/api/v1/campaigns", params=query)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_at_most_200_and_50_by_default(client: httpx.AsyncClient, store: Store) -> None:
    lead, key = await make_lead(store)
    campaign = await make_campaign(store, lead)
    await make_pending_pledges(store, campaign.slug, 60)
    path = f"/api/v1/campaigns/{campaign.slug}/pledges"

    default = await client.get(path, headers=bearer(key))
    most = await client.get(path, params={"limit": 200}, headers=bearer(key))

    assert len(default.json()["pledges"]) == 50 and default.json()["next"]
    assert len(most.json()["pledges"]) == 60 and "next" not in most.json()


async def test_deliveries_page_newest_first(client: httpx.AsyncClient, store: Store) -> None:
    from notifications.endpoints import create_endpoint, parse_endpoint
    from notifications.webhooks import queue_test_message
    from pledges.accounts import create_organisation_api_key

    org, key = await create_organisation_api_key(store, "ops@isp.example", "ISP", "provider")
    spec = await parse_endpoint({"url": "http://127.0.0.1:9/x"}, partial=False, allow_private=True)
    endpoint = await create_endpoint(store, org.id, spec)
    queued = [await queue_test_message(store, endpoint) for _ in range(5)]
    path = f"/api/v1/webhook-endpoints/{endpoint.public_id}/deliveries"

    first = await client.get(path, params={"limit": 3}, headers=bearer(key))
    rest = await client.get(
        path, params={"limit": 3, "cursor": first.json()["next"]}, headers=bearer(key)
    )

    ids = [d["id"] for d in first.json()["deliveries"] + rest.json()["deliveries"]]
    assert ids == list(reversed(queued))
    assert "next" not in rest.json()
