"""The premises list through the API: a lead replaces a households campaign's list as CSV or
JSON, reads its coverage, and a campaign aiming at a share of the listed premises tips
exactly when enough distinct listed homes confirm. Bad lists are refused naming the row and
field, and nothing stored changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges.accounts import Lead
from pledges.journal import events_for_campaign
from pledges.premises import MAX_PREMISES
from pledges.store import Store
from pledges.tables import campaigns, pledges

# Every answer of these tests is one the document declares (test_api's autouse fixture).
from tests.app.api.test_api import bearer, every_answer_is_declared, sign  # noqa: F401
from tests.conftest import table_snapshot
from tests.factories import campaign_data, make_campaign, make_lead, pledge_data

STREETS = ("Brudenell Road", "Manor Drive")
# Ten listed homes: 2..10 Brudenell Road and 1..9 Manor Drive, all LS6 1AB.
HOMES = [f"{n} {STREETS[0]}" for n in (2, 4, 6, 8, 10)] + [
    f"{n} {STREETS[1]}" for n in (1, 3, 5, 7, 9)
]
CSV_TEN = "address_line,postcode\n" + "".join(f"{line},LS6 1AB\n" for line in HOMES)


@pytest.fixture
async def leads(store: Store) -> tuple[Lead, dict[str, str], dict[str, str]]:
    lead, key = await make_lead(store)
    _, other = await make_lead(store, "someone-else@example.org")
    return lead, bearer(key), bearer(other)


async def _draft(client: httpx.AsyncClient, headers: dict[str, str], **extra: Any) -> str:
    data = campaign_data(counts="households", coverage_target=50, draft=True, **extra)
    data.pop("target")
    created = await client.post("/api/v1/campaigns", json=data, headers=headers)
    assert created.status_code == 201, created.text
    slug: str = created.json()["slug"]
    return slug


def _csv(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "text/csv"}


async def _pledge(
    client: httpx.AsyncClient, store: Store, app: Starlette, slug: str, i: int, line: str
) -> Any:
    """Pledge through the API as resident i from `line`, then confirm with the emailed token."""
    made = await client.post(
        f"/api/v1/campaigns/{slug}/pledges", json=pledge_data(i, address_line=line)
    )
    assert made.status_code == 202, made.text
    pledge_id = await store.database.fetch_val(
        sa.select(pledges.c.id).where(pledges.c.email_canonical == f"resident{i}@example.org")
    )
    confirmed = await client.post("/api/v1/pledges/confirm", json={"token": sign(app, pledge_id)})
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()["progress"]


async def test_a_campaign_tips_when_the_fifth_listed_household_confirms(
    client: httpx.AsyncClient, store: Store, app: Starlette, leads: Any
) -> None:
    _, mine, _ = leads
    slug = await _draft(client, mine)
    listed = await client.put(
        f"/api/v1/campaigns/{slug}/premises", content=CSV_TEN, headers=_csv(mine)
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["listed"] == 10
    assert (await client.post(f"/api/v1/campaigns/{slug}/publish", headers=mine)).is_success

    resident = 0

    async def pledge(line: str) -> Any:
        nonlocal resident
        resident += 1
        return await _pledge(client, store, app, slug, resident, line)

    # Four listed homes, three people from each (spelt their own way), plus five pledges
    # from an address not on the list: still open.
    for home in HOMES[:4]:
        for spelling in (home, home.upper(), home.replace("Road", "Rd")):
            progress = await pledge(spelling)
    for _ in range(5):
        progress = await pledge("99 Elsewhere Street")
    assert progress["status"] == "open"
    assert (progress["households"], progress["coverage_percent"]) == (5, 40.0)

    progress = await pledge(HOMES[4])  # the fifth distinct listed home

    assert progress["status"] == "tipped" and progress["coverage_percent"] == 50.0
    assert (await pledge(HOMES[4].lower()))["status"] == "tipped"
    campaign = (await client.get(f"/api/v1/campaigns/{slug}")).json()
    assert campaign["status"] == "tipped"
    assert campaign["progress"]["households"] == 6
    assert campaign["progress"]["coverage_percent"] == 50.0
    campaign_id = await store.database.fetch_val(
        sa.select(campaigns.c.id).where(campaigns.c.slug == slug)
    )
    kinds = [e.type for e in await events_for_campaign(store.database, campaign_id)]
    assert kinds.count("campaign.tipped") == 1


async def test_the_list_as_json_and_its_coverage(
    client: httpx.AsyncClient, store: Store, app: Starlette, leads: Any
) -> None:
    _, mine, _ = leads
    slug = await _draft(client, mine)
    rows = [{"address_line": line, "postcode": "ls61ab"} for line in HOMES]
    first = await client.put(f"/api/v1/campaigns/{slug}/premises", json=rows, headers=mine)
    assert first.json() == {
        "listed": 10,
        "added": 10,
        "removed": 0,
        "kept": 0,
        "counted_households_listed": 0,
        "coverage_percent": 0.0,
    }
    again = await client.put(
        f"/api/v1/campaigns/{slug}/premises",
        json={"premises": [*rows[:8], {"address_line": "11 Manor Drive", "postcode": "LS6 1AB"}]},
        headers=mine,
    )
    assert again.status_code == 200
    assert {k: again.json()[k] for k in ("listed", "added", "removed", "kept")} == {
        "listed": 9,
        "added": 1,
        "removed": 2,
        "kept": 8,
    }
    await client.post(f"/api/v1/campaigns/{slug}/publish", headers=mine)
    await _pledge(client, store, app, slug, 1, HOMES[0])

    coverage = await client.get(f"/api/v1/campaigns/{slug}/premises", headers=mine)

    assert coverage.status_code == 200
    body = coverage.json()
    assert (body["listed"], body["counted_households_listed"], body["awaiting_review"]) == (9, 1, 0)
    assert body["by_street"] == [
        {"name": "Brudenell Road", "listed": 5, "counted": 1, "percent": 20.0, "to_knock": 4},
        {"name": "Manor Drive", "listed": 4, "counted": 0, "percent": 0.0, "to_knock": 4},
    ]
    assert body["by_district"] == [
        {"name": "LS6", "listed": 9, "counted": 1, "percent": 11.1, "to_knock": 8}
    ]


async def test_the_list_cannot_change_once_tipped_or_on_a_people_campaign(
    client: httpx.AsyncClient, store: Store, app: Starlette, leads: Any
) -> None:
    lead, mine, theirs = leads
    slug = await _draft(client, mine)
    two = [{"address_line": line, "postcode": "LS6 1AB"} for line in HOMES[:2]]
    await client.put(f"/api/v1/campaigns/{slug}/premises", json=two, headers=mine)
    await client.post(f"/api/v1/campaigns/{slug}/publish", headers=mine)
    assert (await _pledge(client, store, app, slug, 1, HOMES[0]))["status"] == "tipped"
    people = await make_campaign(store, lead)
    before = await table_snapshot(store)

    tipped = await client.put(f"/api/v1/campaigns/{slug}/premises", json=two, headers=mine)
    of_people = await client.put(
        f"/api/v1/campaigns/{people.slug}/premises", content=CSV_TEN, headers=_csv(mine)
    )
    not_yours = await client.put(f"/api/v1/campaigns/{slug}/premises", json=two, headers=theirs)
    nobody = await client.put(f"/api/v1/campaigns/{slug}/premises", json=two)

    assert tipped.status_code == 409 and "tipped" in tipped.json()["detail"]
    assert of_people.status_code == 409 and "counts people" in of_people.json()["detail"]
    assert not_yours.status_code == 403 and nobody.status_code == 401
    assert (
        await client.get(f"/api/v1/campaigns/{people.slug}/premises", headers=mine)
    ).status_code == 409
    assert await table_snapshot(store) == before


def _fields(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"]]


def _said(answer: httpx.Response) -> list[str]:
    """Each error as `field: message`."""
    _fields(answer)
    return [f"{e['field']}: {e['message']}" for e in answer.json()["errors"]]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("line,postcode\n2 Brudenell Road,LS6 1AB\n", "address_line"),
        ("address_line\n2 Brudenell Road\n", "postcode"),
        ("address_line,postcode\n2 Brudenell Road,LS6 1AB\n2 brudenell rd,LS6 1AB\n", "rows[3]"),
        (
            "address_line,postcode\n2 Brudenell Road,LS6 1AB\n4 Brudenell Road,NOT A CODE\n",
            "rows[3].postcode",
        ),
        ("address_line,postcode\n" + "x" * 5000 + ",LS6 1AB\n", "address_line"),
        ("address_line,postcode\n2 Brudenell\x07 Road,LS6 1AB\n", "address_line"),
    ],
    ids=["no-address-column", "no-postcode-column", "duplicate", "postcode", "long", "control"],
)
async def test_a_bad_csv_is_refused_naming_the_row_or_field_and_nothing_changes(
    client: httpx.AsyncClient, store: Store, leads: Any, body: str, where: str
) -> None:
    _, mine, _ = leads
    slug = await _draft(client, mine)
    good = await client.put(
        f"/api/v1/campaigns/{slug}/premises", content=CSV_TEN, headers=_csv(mine)
    )
    assert good.status_code == 200
    before = await table_snapshot(store)

    refused = await client.put(
        f"/api/v1/campaigns/{slug}/premises", content=body, headers=_csv(mine)
    )

    assert any(where in said for said in _said(refused)), refused.json()
    assert await table_snapshot(store) == before


async def test_bad_json_rows_are_refused_naming_the_row(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    _, mine, _ = leads
    slug = await _draft(client, mine)
    before = await table_snapshot(store)
    rows: list[Any] = [
        {"address_line": "2 Brudenell Road", "postcode": "LS6 1AB"},
        {"address_line": "4 Brudenell Road"},
        "not a row",
    ]

    refused = await client.put(f"/api/v1/campaigns/{slug}/premises", json=rows, headers=mine)

    fields = _fields(refused)
    assert any("1" in f and "postcode" in f for f in fields), fields
    assert any("2" in f for f in fields), fields
    assert await table_snapshot(store) == before


async def test_a_list_too_long_is_refused_and_a_body_too_large_with_413(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    _, mine, _ = leads
    slug = await _draft(client, mine)
    before = await table_snapshot(store)
    huge = "address_line,postcode\n" + "".join(
        f"{n} Long Road,LS6 1AB\n" for n in range(1, 100_001)
    )

    refused = await client.put(
        f"/api/v1/campaigns/{slug}/premises", content=huge, headers=_csv(mine)
    )

    assert _fields(refused) == ["file"]
    assert f"{MAX_PREMISES:,}" in refused.json()["errors"][0]["message"]
    as_json = [{"address_line": "1 Long Road", "postcode": "LS6 1AB"}] * (MAX_PREMISES + 1)
    assert _fields(
        await client.put(f"/api/v1/campaigns/{slug}/premises", json=as_json, headers=mine)
    ) == ["premises"]
    too_large = await client.put(
        f"/api/v1/campaigns/{slug}/premises",
        content="address_line,postcode\n" + "x" * (6 * 1024 * 1024),
        headers=_csv(mine),
    )
    assert too_large.status_code == 413
    assert too_large.headers["content-type"] == "application/problem+json"
    other_type = await client.put(
        f"/api/v1/campaigns/{slug}/premises",
        content="<list/>",
        headers={**mine, "Content-Type": "application/xml"},
    )
    assert other_type.status_code == 415
    assert await table_snapshot(store) == before


async def test_the_document_states_both_media_types() -> None:
    from tests.app.api.test_openapi import DOCUMENT

    body = DOCUMENT["paths"]["/api/v1/campaigns/{slug}/premises"]["put"]["requestBody"]
    assert set(body["content"]) == {"application/json", "text/csv"}
