"""Through the API: a lead records a paper pledge without email (`attested`), it counts at
once and shows in the lead's pledge list; when the campaign tips its message waits in the
lead's hand notes until marked as told. An anonymous pledge still needs an email."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from notifications.outbox import dispatch_events
from notifications.tables import emails
from pledges.accounts import Lead
from pledges.campaigns import get_campaign
from pledges.store import Store
from pledges.tables import pledges

# Every answer of these tests is one the document declares (test_api's autouse fixture).
from tests.app.api.test_api import bearer, every_answer_is_declared  # noqa: F401
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_lead


@pytest.fixture
async def leads(store: Store) -> tuple[Lead, dict[str, str], dict[str, str]]:
    lead, key = await make_lead(store)
    _, other = await make_lead(store, "someone-else@example.org")
    return lead, bearer(key), bearer(other)


def neighbour(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Edna Doorstep",
        "postcode": "LS6 1AB",
        "address_line": "12 Brudenell Road",
        "phone": "+44 (0)113 496 0000",
        "source": "paper",
        "attested": True,
    }
    data.update(overrides)
    return data


def fields_of(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json()["errors"]]


@pytest.mark.parametrize("counts", ["people", "households"])
async def test_a_paper_pledge_without_email_counts_and_is_listed(
    client: httpx.AsyncClient, store: Store, leads: Any, counts: str
) -> None:
    lead, mine, _ = leads
    campaign = await make_campaign(store, lead, target=5, counts=counts)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"

    answer = await client.post(url, json=neighbour(), headers=mine)

    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "confirmed"
    assert answer.json()["progress"]["confirmed"] == 1
    if counts == "households":
        assert answer.json()["progress"]["households"] == 1
    listed = await client.get(url, headers=mine)
    [row] = listed.json()["pledges"]
    assert (row["name"], row["email"], row["source"], row["status"]) == (
        "Edna Doorstep",
        None,
        "paper",
        "confirmed",
    )
    # Null and blank say the same as leaving the email out.
    for blank in (None, "  "):
        other = neighbour(name=f"Fred {blank!r}", email=blank)
        assert (await client.post(url, json=other, headers=mine)).status_code == 201


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, _ = leads
    campaign = await make_campaign(store, lead, target=5)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    before = await table_snapshot(store)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (neighbour(attested=False), ["attested"]),
        (neighbour(attested=None), ["attested"]),
        (neighbour(phone="not a number"), ["phone"]),
        (neighbour(phone="0113\x00496 0000"), ["phone"]),
        (neighbour(phone="1" * 41), ["phone"]),
        (neighbour(address_line="x" * 5000), ["address_line"]),
        # An anonymous pledge needs an email whatever it says.
        (neighbour(source="api"), ["email"]),
    ]
    for body, expected in cases:
        headers = {} if body["source"] == "api" else mine
        answer = await client.post(url, json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
        assert fields_of(answer) == expected, body
    assert await table_snapshot(store) == before

    first = await client.post(url, json=neighbour(), headers=mine)
    assert first.status_code == 201
    repeat = await client.post(url, json=neighbour(name="EDNA DOORSTEP"), headers=mine)
    assert repeat.status_code == 409
    assert fields_of(repeat) == ["name"]
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1


async def test_only_the_campaigns_lead_records_one(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, _, theirs = leads
    campaign = await make_campaign(store, lead, target=5)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    assert (await client.post(url, json=neighbour(), headers=theirs)).status_code == 403
    assert (await client.post(url, json=neighbour())).status_code == 401
    count = await store.database.fetch_val(sa.select(sa.func.count()).select_from(pledges))
    assert count == 0


async def test_the_hand_notes_list_and_marking_one_told(
    client: httpx.AsyncClient, store: Store, leads: Any
) -> None:
    lead, mine, theirs = leads
    campaign = await make_campaign(store, lead, target=3)
    url = f"/api/v1/campaigns/{campaign.slug}/pledges"
    for name in ("Edna Doorstep", "Fred Field"):
        assert (await client.post(url, json=neighbour(name=name), headers=mine)).status_code == 201
    await make_confirmed_pledge(store, campaign.slug, 1)  # the third: it tips
    await dispatch_events(store)
    await dispatch_events(store)
    addresses = await store.database.fetch_all(
        sa.select(emails.c.to_address).where(emails.c.kind == "tipped")
    )
    assert [r["to_address"] for r in addresses] == ["resident1@example.org"]

    notes_url = f"/api/v1/campaigns/{campaign.slug}/hand-notes"
    listed = await client.get(notes_url, headers=mine)
    assert listed.status_code == 200
    assert listed.headers["Cache-Control"] == "no-store"
    notes = listed.json()["hand_notes"]
    assert [(n["name"], n["kind"], n["told_at"]) for n in notes] == [
        ("Edna Doorstep", "tipped", None),
        ("Fred Field", "tipped", None),
    ]
    assert notes[0]["subject"] == f"It tipped! {campaign.title} reached its target"
    assert notes[0]["phone"] == "+44 (0)113 496 0000"
    assert notes[0]["address_line"] == "12 Brudenell Road"

    paged = await client.get(notes_url, params={"limit": 1}, headers=mine)
    assert [n["name"] for n in paged.json()["hand_notes"]] == ["Edna Doorstep"]
    following = await client.get(
        notes_url, params={"limit": 1, "cursor": paged.json()["next"]}, headers=mine
    )
    assert [n["name"] for n in following.json()["hand_notes"]] == ["Fred Field"]
    assert "next" not in following.json()

    first = notes[0]["id"]
    assert (await client.post(f"{notes_url}/{first}/told", headers=theirs)).status_code == 403
    told = await client.post(f"{notes_url}/{first}/told", headers=mine)
    assert told.status_code == 200 and told.json()["told_at"] is not None
    again = await client.post(f"{notes_url}/{first}/told", headers=mine)
    assert again.json()["told_at"] == told.json()["told_at"]  # once
    left = (await client.get(notes_url, headers=mine)).json()["hand_notes"]
    assert [n["name"] for n in left] == ["Fred Field"]
    for nothing in ("999999", "abc", "²"):
        answer = await client.post(f"{notes_url}/{nothing}/told", headers=mine)
        assert answer.status_code == 404

    # Another campaign of the same lead cannot reach this one's notes.
    other = await make_campaign(store, lead, target=3)
    elsewhere = f"/api/v1/campaigns/{other.slug}/hand-notes/{notes[1]['id']}/told"
    assert (await client.post(elsewhere, headers=mine)).status_code == 404
