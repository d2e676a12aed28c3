"""JSON API v1, the paths that succeed: what a client sends and what it gets back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges.campaigns import cancel_campaign
from pledges.store import Store, utcnow
from pledges.tables import pledges
from tests.app.api.test_openapi import record_api_answers, undeclared_answers
from tests.factories import (
    campaign_data,
    make_campaign,
    make_cancelled_campaign,
    make_confirmed_pledge,
    make_expired_campaign,
    make_lead,
    make_pending_pledges,
    pledge_data,
)


@pytest.fixture(autouse=True)
async def every_answer_is_declared(client: httpx.AsyncClient) -> AsyncIterator[None]:
    answers = record_api_answers(client)
    yield
    assert undeclared_answers(answers) == []


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sign(app: Starlette, pledge_id: int, namespace: str = "pledge-confirm") -> str:
    token: str = app.state.services.signer.sign(pledge_id, namespace)
    return token


async def pledge_id_for(store: Store, canonical_email: str) -> int:
    found = await store.database.fetch_all(
        sa.select(pledges.c.id).where(pledges.c.email_canonical == canonical_email)
    )
    assert len(found) == 1
    return int(found[0]["id"])


async def stored_pledges(store: Store, slug: str) -> list[dict[str, Any]]:
    rows = await store.database.fetch_all(
        sa.text(
            "SELECT p.email, p.email_canonical, p.status, p.source FROM pledges p "
            "JOIN campaigns c ON c.id = p.campaign_id WHERE c.slug = :slug ORDER BY p.id"
        ).bindparams(slug=slug)
    )
    return [dict(r._mapping) for r in rows]


async def progress_of(client: httpx.AsyncClient, slug: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/campaigns/{slug}")
    assert response.status_code == 200
    progress: dict[str, Any] = response.json()["progress"]
    return progress


# Listing and reading campaigns


async def test_get_one_campaign(client: httpx.AsyncClient, store: Store) -> None:
    deadline = utcnow() + timedelta(days=30)
    campaign = await make_campaign(
        store,
        slug="fibre-for-otley-road",
        title="Full fibre for Otley Road",
        summary="Gigabit broadband for our street.",
        category="broadband",
        area={"name": "Headingley", "postcode_districts": ["ls6", "LS16"]},
        target=20,
        deadline=deadline.isoformat(),
        milestones=[50],
    )
    await make_confirmed_pledge(store, campaign.slug, 1)

    response = await client.get("/api/v1/campaigns/fibre-for-otley-road")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert {k: body[k] for k in ("slug", "title", "summary", "category", "status")} == {
        "slug": "fibre-for-otley-road",
        "title": "Full fibre for Otley Road",
        "summary": "Gigabit broadband for our street.",
        "category": "broadband",
        "status": "open",
    }
    assert body["area"] == {"name": "Headingley", "postcode_districts": ["LS16", "LS6"]}
    assert body["threshold"] == {"target": 20}
    assert body["progress"] == {"confirmed": 1, "percent": 5}
    assert body["milestones"] == [50]
    assert datetime.fromisoformat(body["deadline"]) == deadline
    assert body["tipped_at"] is None
    assert body["url"] == "http://testserver/c/fibre-for-otley-road"


async def test_a_tipped_campaign_says_when_it_tipped(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, target=2)
    before = utcnow()
    for i in range(2):
        await make_confirmed_pledge(store, campaign.slug, i)

    body = (await client.get(f"/api/v1/campaigns/{campaign.slug}")).json()

    assert body["status"] == "tipped"
    assert body["progress"] == {"confirmed": 2, "percent": 100}
    assert before <= datetime.fromisoformat(body["tipped_at"]) <= utcnow()


async def test_percent_stays_at_100_past_the_target(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, target=2)
    for i in range(3):
        await make_confirmed_pledge(store, campaign.slug, i)

    assert await progress_of(client, campaign.slug) == {"confirmed": 3, "percent": 100}


async def test_list_campaigns(client: httpx.AsyncClient, store: Store) -> None:
    first = await make_campaign(store, deadline=(utcnow() + timedelta(days=5)).isoformat())
    second = await make_campaign(store, deadline=(utcnow() + timedelta(days=9)).isoformat())

    response = await client.get("/api/v1/campaigns")

    assert response.status_code == 200
    listed = response.json()["campaigns"]
    assert [c["slug"] for c in listed] == [first.slug, second.slug]  # soonest deadline first
    assert listed[0] == (await client.get(f"/api/v1/campaigns/{first.slug}")).json()


async def test_list_is_empty_with_no_campaigns(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/campaigns")
    assert (response.status_code, response.json()) == (200, {"campaigns": []})


@pytest.fixture
async def assorted(store: Store) -> dict[str, str]:
    """Campaigns in different places, categories and states; name -> slug."""
    ls6 = await make_campaign(store, area={"name": "Headingley", "postcode_districts": ["LS6"]})
    ls16 = await make_campaign(
        store, area={"name": "Adel", "postcode_districts": ["LS16"]}, category="waste"
    )
    both = await make_campaign(
        store,
        area={"name": "North Leeds", "postcode_districts": ["LS6", "LS16", "LS17"]},
        category="transport",
    )
    tipped = await make_campaign(
        store, target=1, area={"name": "Hyde Park", "postcode_districts": ["LS6"]}
    )
    await make_confirmed_pledge(store, tipped.slug)
    cancelled = await make_cancelled_campaign(
        store, area={"name": "Hyde Park", "postcode_districts": ["LS6"]}
    )
    expired = await make_expired_campaign(
        store, area={"name": "Adel", "postcode_districts": ["LS16"]}, category="waste"
    )
    draft = await make_campaign(
        store, draft=True, area={"name": "Headingley", "postcode_districts": ["LS6"]}
    )
    return {
        "ls6": ls6.slug,
        "ls16": ls16.slug,
        "both": both.slug,
        "tipped": tipped.slug,
        "cancelled": cancelled.slug,
        "expired": expired.slug,
        "draft": draft.slug,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"ls6", "ls16", "both", "tipped", "cancelled", "expired"}),
        ({"status": "open"}, {"ls6", "ls16", "both"}),
        ({"status": "tipped"}, {"tipped"}),
        ({"status": "cancelled"}, {"cancelled"}),
        ({"status": "expired"}, {"expired"}),
        ({"category": "waste"}, {"ls16", "expired"}),
        ({"category": "transport"}, {"both"}),
        ({"category": "supplier"}, set()),
        ({"postcode": "ls6 1ab"}, {"ls6", "both", "tipped", "cancelled"}),
        ({"postcode": "LS61AB"}, {"ls6", "both", "tipped", "cancelled"}),
        ({"postcode": "LS6"}, {"ls6", "both", "tipped", "cancelled"}),
        ({"postcode": " ls16 "}, {"ls16", "both", "expired"}),
        ({"postcode": "LS17 8AA"}, {"both"}),
        ({"postcode": "SW1A 1AA"}, set()),
        ({"postcode": "LS6", "status": "open"}, {"ls6", "both"}),
        ({"postcode": "LS16", "category": "waste", "status": "open"}, {"ls16"}),
    ],
)
async def test_list_filters(
    client: httpx.AsyncClient,
    assorted: dict[str, str],
    query: dict[str, str],
    expected: set[str],
) -> None:
    response = await client.get("/api/v1/campaigns", params=query)

    assert response.status_code == 200
    slugs = {c["slug"] for c in response.json()["campaigns"]}
    assert slugs == {assorted[name] for name in expected}


@pytest.mark.parametrize("name", ["status", "category", "postcode"])
async def test_an_empty_filter_is_refused_by_name(
    client: httpx.AsyncClient, assorted: dict[str, str], name: str
) -> None:
    """Issue 10: an empty filter is not "any" (the document says what a filter may be)."""
    response = await client.get("/api/v1/campaigns", params={name: ""})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [name]


async def test_drafts_are_not_public(client: httpx.AsyncClient, store: Store) -> None:
    draft = await make_campaign(store, draft=True)

    single = await client.get(f"/api/v1/campaigns/{draft.slug}")
    listed = await client.get("/api/v1/campaigns")
    asked_for = await client.get("/api/v1/campaigns", params={"status": "draft"})
    pledged = await client.post(f"/api/v1/campaigns/{draft.slug}/pledges", json=pledge_data())

    assert single.status_code == 404
    assert single.headers["content-type"] == "application/problem+json"
    assert listed.json() == {"campaigns": []}
    assert asked_for.status_code == 200
    assert asked_for.json() == {"campaigns": []}
    # Pledging answers as if there were no campaign: nobody learns a draft exists.
    assert pledged.status_code == 404
    assert pledged.json()["detail"] == single.json()["detail"]
    assert await stored_pledges(store, draft.slug) == []


# Creating campaigns


async def test_create_campaign(client: httpx.AsyncClient, store: Store) -> None:
    _, key = await make_lead(store)
    deadline = utcnow() + timedelta(days=60)
    data = campaign_data(
        slug="recycling-for-hyde-park",
        title="  Weekly recycling for Hyde Park  ",
        summary="Collections every week, not every fortnight.",
        category="waste",
        area={"name": "Hyde Park", "postcode_districts": ["ls6", "LS 3", "LS6"]},
        target=150,
        deadline=deadline.isoformat(),
        milestones=[75, 25],
    )

    response = await client.post("/api/v1/campaigns", json=data, headers=bearer(key))

    assert response.status_code == 201
    assert response.headers["location"] == "/api/v1/campaigns/recycling-for-hyde-park"
    body = response.json()
    assert body["slug"] == "recycling-for-hyde-park"
    assert body["title"] == "Weekly recycling for Hyde Park"
    assert body["status"] == "open"
    assert body["category"] == "waste"
    assert body["area"] == {"name": "Hyde Park", "postcode_districts": ["LS3", "LS6"]}
    assert body["threshold"] == {"target": 150}
    assert body["progress"] == {"confirmed": 0, "percent": 0}
    assert body["milestones"] == [25, 75]
    assert datetime.fromisoformat(body["deadline"]) == deadline
    assert body["tipped_at"] is None
    # It is public at once, and found by its area.
    assert (await client.get(response.headers["location"])).json() == body
    listed = await client.get("/api/v1/campaigns", params={"postcode": "LS3 1AA"})
    assert [c["slug"] for c in listed.json()["campaigns"]] == ["recycling-for-hyde-park"]


async def test_create_a_draft(client: httpx.AsyncClient, store: Store) -> None:
    _, key = await make_lead(store)

    response = await client.post(
        "/api/v1/campaigns", json=campaign_data(draft=True), headers=bearer(key)
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "draft"
    assert (await client.get(f"/api/v1/campaigns/{body['slug']}")).status_code == 404


async def test_create_campaign_makes_a_slug_from_the_title(
    client: httpx.AsyncClient, store: Store
) -> None:
    _, key = await make_lead(store)
    data = campaign_data(title="Bins: collected on Tuesdays!")
    del data["slug"]

    response = await client.post("/api/v1/campaigns", json=data, headers=bearer(key))

    assert response.status_code == 201
    assert response.json()["slug"] == "bins-collected-on-tuesdays"


async def test_a_deadline_given_as_a_date_means_the_end_of_that_day(
    client: httpx.AsyncClient, store: Store
) -> None:
    _, key = await make_lead(store)
    day = (utcnow() + timedelta(days=10)).date()

    response = await client.post(
        "/api/v1/campaigns", json=campaign_data(deadline=day.isoformat()), headers=bearer(key)
    )

    assert response.status_code == 201
    deadline = datetime.fromisoformat(response.json()["deadline"])
    assert deadline.date() == day
    assert (deadline.hour, deadline.minute, deadline.second) == (23, 59, 59)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
async def test_create_campaign_with_json_content_types(
    client: httpx.AsyncClient, store: Store, content_type: str
) -> None:
    _, key = await make_lead(store)
    response = await client.post(
        "/api/v1/campaigns",
        content=httpx.Request("POST", "/", json=campaign_data()).content,
        headers={**bearer(key), "Content-Type": content_type},
    )
    assert response.status_code == 201


# Pledging


async def test_pledge_is_pending_until_confirmed(client: httpx.AsyncClient, store: Store) -> None:
    campaign = await make_campaign(store)

    response = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1))

    assert response.status_code == 202
    assert response.json() == {"status": "pending"}
    assert await progress_of(client, campaign.slug) == {"confirmed": 0, "percent": 0}
    assert [p["status"] for p in await stored_pledges(store, campaign.slug)] == ["pending"]


async def test_pledge_on_a_tipped_campaign_is_still_taken(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, target=1)
    await make_confirmed_pledge(store, campaign.slug, 1)

    response = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(2))

    assert (response.status_code, response.json()) == (202, {"status": "pending"})


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ("jane.doe@gmail.com", "JaneDoe+streets@gmail.com"),
        ("janedoe@gmail.com", "jane.d.o.e@googlemail.com"),
        ("sam@outlook.com", "sam+leeds@outlook.com"),
        ("ravi@example.org", " Ravi@Example.ORG "),
    ],
)
async def test_a_repeated_pledge_gets_the_identical_answer(
    client: httpx.AsyncClient, store: Store, first: str, again: str
) -> None:
    campaign = await make_campaign(store)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"

    new = await client.post(url, json=pledge_data(1, email=first))
    repeated = await client.post(url, json=pledge_data(2, email=again, name="Someone else"))

    assert (repeated.status_code, repeated.content) == (new.status_code, new.content)
    assert repeated.headers == new.headers
    assert len(await stored_pledges(store, campaign.slug)) == 1


async def test_pledging_again_after_confirming_gets_the_identical_answer(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    stranger = await client.post(url, json=pledge_data(9))
    await make_confirmed_pledge(store, campaign.slug, 1)

    again = await client.post(url, json=pledge_data(1))

    assert (again.status_code, again.content) == (stranger.status_code, stranger.content)
    assert await progress_of(client, campaign.slug) == {"confirmed": 1, "percent": 10}


async def test_pledge_with_a_valid_lead_key_is_an_ordinary_pledge(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    _, key = await make_lead(store)

    response = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1), headers=bearer(key)
    )

    assert (response.status_code, response.json()) == (202, {"status": "pending"})
    assert [(p["status"], p["source"]) for p in await stored_pledges(store, campaign.slug)] == [
        ("pending", "api")
    ]


async def test_paper_pledge_is_confirmed_at_once(client: httpx.AsyncClient, store: Store) -> None:
    lead, key = await make_lead(store)
    campaign = await make_campaign(store, lead, target=4)

    response = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/pledges",
        json=pledge_data(1, source="paper"),
        headers=bearer(key),
    )

    assert response.status_code == 201
    assert response.json() == {
        "status": "confirmed",
        "repeated": False,
        "progress": {"confirmed": 1, "percent": 25},
    }
    assert await progress_of(client, campaign.slug) == {"confirmed": 1, "percent": 25}
    assert [(p["status"], p["source"]) for p in await stored_pledges(store, campaign.slug)] == [
        ("confirmed", "paper")
    ]


async def test_paper_pledge_twice_counts_once(client: httpx.AsyncClient, store: Store) -> None:
    lead, key = await make_lead(store)
    campaign = await make_campaign(store, lead, target=4)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    await client.post(url, json=pledge_data(1, source="paper"), headers=bearer(key))

    again = await client.post(
        url,
        json=pledge_data(1, email="RESIDENT1@example.org", source="paper"),
        headers=bearer(key),
    )

    assert again.status_code == 201
    assert again.json() == {
        "status": "confirmed",
        "repeated": True,
        "progress": {"confirmed": 1, "percent": 25},
    }


async def test_paper_pledge_confirms_an_online_pending_pledge(
    client: httpx.AsyncClient, store: Store
) -> None:
    lead, key = await make_lead(store)
    campaign = await make_campaign(store, lead, target=4)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    await client.post(url, json=pledge_data(1, email="jo.bloggs@gmail.com"))

    response = await client.post(
        url, json=pledge_data(1, email="jobloggs@gmail.com", source="paper"), headers=bearer(key)
    )

    assert response.status_code == 201
    assert response.json()["progress"] == {"confirmed": 1, "percent": 25}
    assert [p["status"] for p in await stored_pledges(store, campaign.slug)] == ["confirmed"]


async def test_paper_pledges_can_tip_a_campaign(client: httpx.AsyncClient, store: Store) -> None:
    lead, key = await make_lead(store)
    campaign = await make_campaign(store, lead, target=2)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"

    for i in range(2):
        response = await client.post(url, json=pledge_data(i, source="paper"), headers=bearer(key))
        assert response.status_code == 201

    body = (await client.get(f"/api/v1/campaigns/{campaign.slug}")).json()
    assert (body["status"], body["progress"]["percent"]) == ("tipped", 100)
    assert body["tipped_at"] is not None


# Confirming and withdrawing


async def test_confirm_a_pledge_made_through_the_api(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=4)
    await client.post(
        f"/api/v1/campaigns/{campaign.slug}/pledges",
        json=pledge_data(1, email="Jane.Doe+x@gmail.com"),
    )
    pledge_id = await pledge_id_for(store, "janedoe@gmail.com")

    response = await client.post("/api/v1/pledges/confirm", json={"token": sign(app, pledge_id)})

    assert response.status_code == 200
    assert response.json() == {
        "status": "confirmed",
        "already_confirmed": False,
        "progress": {
            "slug": campaign.slug,
            "status": "open",
            "confirmed": 1,
            "target": 4,
            "percent": 25,
        },
    }
    assert await progress_of(client, campaign.slug) == {"confirmed": 1, "percent": 25}


async def test_confirming_twice_counts_once(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=4)
    [pledge_id] = await make_pending_pledges(store, campaign.slug, 1)
    token = sign(app, pledge_id)

    first = await client.post("/api/v1/pledges/confirm", json={"token": token})
    second = await client.post("/api/v1/pledges/confirm", json={"token": token})

    assert first.status_code == second.status_code == 200
    assert first.json()["already_confirmed"] is False
    assert second.json()["already_confirmed"] is True
    assert second.json()["progress"] == first.json()["progress"]
    assert await progress_of(client, campaign.slug) == {"confirmed": 1, "percent": 25}


async def test_the_confirmation_that_reaches_the_target_tips_the_campaign(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=2)
    ids = await make_pending_pledges(store, campaign.slug, 2)

    answers = [
        (await client.post("/api/v1/pledges/confirm", json={"token": sign(app, i)})).json()
        for i in ids
    ]

    assert [a["progress"]["status"] for a in answers] == ["open", "tipped"]
    assert answers[1]["progress"]["percent"] == 100
    assert (await client.get(f"/api/v1/campaigns/{campaign.slug}")).json()["status"] == "tipped"


async def test_withdraw_a_confirmed_pledge(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=4)
    keep = await make_confirmed_pledge(store, campaign.slug, 1)
    leave = await make_confirmed_pledge(store, campaign.slug, 2)
    assert keep != leave

    response = await client.post(
        "/api/v1/pledges/withdraw", json={"token": sign(app, leave, "pledge-withdraw")}
    )

    assert response.status_code == 200
    assert response.json() == {
        "status": "withdrawn",
        "progress": {
            "slug": campaign.slug,
            "status": "open",
            "confirmed": 1,
            "target": 4,
            "percent": 25,
        },
    }
    assert await progress_of(client, campaign.slug) == {"confirmed": 1, "percent": 25}


async def test_withdrawing_twice_is_harmless(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=4)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    token = sign(app, pledge_id, "pledge-withdraw")

    first = await client.post("/api/v1/pledges/withdraw", json={"token": token})
    second = await client.post("/api/v1/pledges/withdraw", json={"token": token})

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.json()["progress"]["confirmed"] == 0


async def test_withdraw_a_pending_pledge(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=4)
    await make_confirmed_pledge(store, campaign.slug, 1)
    [pending] = await make_pending_pledges(store, campaign.slug, 1, start=2)

    response = await client.post(
        "/api/v1/pledges/withdraw", json={"token": sign(app, pending, "pledge-withdraw")}
    )

    assert response.status_code == 200
    assert response.json()["progress"]["confirmed"] == 1
    assert [p["status"] for p in await stored_pledges(store, campaign.slug)] == [
        "confirmed",
        "withdrawn",
    ]


async def test_withdrawing_after_tipping_leaves_it_tipped(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=1)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)

    response = await client.post(
        "/api/v1/pledges/withdraw", json={"token": sign(app, pledge_id, "pledge-withdraw")}
    )

    assert response.status_code == 200
    assert response.json()["progress"]["status"] == "tipped"
    assert response.json()["progress"]["confirmed"] == 0


async def test_pledge_again_after_withdrawing_and_confirm(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=4)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    await client.post(
        "/api/v1/pledges/withdraw", json={"token": sign(app, pledge_id, "pledge-withdraw")}
    )

    again = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1))
    confirmed = await client.post("/api/v1/pledges/confirm", json={"token": sign(app, pledge_id)})

    assert (again.status_code, again.json()) == (202, {"status": "pending"})
    assert confirmed.status_code == 200
    assert confirmed.json()["already_confirmed"] is False
    assert await progress_of(client, campaign.slug) == {"confirmed": 1, "percent": 25}


async def test_withdraw_works_on_a_closed_campaign(
    client: httpx.AsyncClient, store: Store, app: Starlette
) -> None:
    campaign = await make_campaign(store, target=4)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    await cancel_campaign(store, campaign.slug, campaign.lead_id)

    response = await client.post(
        "/api/v1/pledges/withdraw", json={"token": sign(app, pledge_id, "pledge-withdraw")}
    )

    assert response.status_code == 200
    assert response.json()["progress"]["status"] == "cancelled"
