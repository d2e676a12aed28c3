"""Responses from providers and councils: validation, what is stored with its event, the
order they are read in, and the one-a-day limit per organisation and campaign, exact even
when two are published at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pledges.accounts import create_organisation_api_key
from pledges.campaigns import Campaign, cancel_campaign, get_campaign
from pledges.errors import ValidationFailed, WrongState
from pledges.journal import PUBLIC_EVENT_TYPES, events_for_campaign
from pledges.responses import (
    MAX_BODY,
    ResponseRateLimited,
    list_responses,
    parse_response,
    publish_response,
    response_for_event,
)
from pledges.store import Store, utcnow
from pledges.tables import responses
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_lead


async def tipped_campaign(store: Store) -> Campaign:
    campaign = await make_campaign(store, target=1)
    await make_confirmed_pledge(store, campaign.slug, 0)
    tipped = await get_campaign(store.database, campaign.slug)
    assert tipped.status == "tipped"
    return tipped


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"body": ""}, "required"),
        ({"body": "  \n\n  "}, "required"),
        ({}, "required"),
        ({"body": 5}, "required"),
        ({"body": "x" * (MAX_BODY + 1)}, "too_long"),
        ({"body": "nul \x00 here"}, "contains_nul"),
        ("not an object", "not_an_object"),
    ],
)
def test_a_response_must_be_some_plain_text(data: object, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_response(data)
    assert [(e.field, e.code) for e in caught.value.errors] == [("body", code)]


def test_a_response_keeps_its_paragraphs_and_loses_the_spaces_around_it() -> None:
    assert parse_response({"body": "  One.\r\n\r\nTwo.\r\n "}).body == "One.\n\nTwo."
    assert len(parse_response({"body": "x" * MAX_BODY}).body) == MAX_BODY


async def test_an_invalid_response_stores_nothing(store: Store) -> None:
    campaign = await tipped_campaign(store)
    org, _ = await create_organisation_api_key(store, "ops@fibreco.example", "FibreCo", "provider")
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed):
        await publish_response(store, campaign.id, org.id, " \n ")
    assert await table_snapshot(store) == before


async def test_publishing_stores_the_response_and_its_public_event(store: Store) -> None:
    campaign = await tipped_campaign(store)
    org, _ = await create_organisation_api_key(store, "ops@fibreco.example", "FibreCo", "provider")

    published = await publish_response(
        store, campaign.id, org.id, "We can survey in March.\r\n\r\nOffers follow."
    )

    assert published.public_id.startswith("rsp_")
    assert published.paragraphs == ["We can survey in March.", "Offers follow."]
    [listed] = await list_responses(store.database, campaign.id)
    assert (listed.public_id, listed.organisation_name, listed.organisation_kind) == (
        published.public_id,
        "FibreCo",
        "provider",
    )
    assert listed.body == "We can survey in March.\n\nOffers follow."
    event = (await events_for_campaign(store.database, campaign.id))[-1]
    assert event.type == "campaign.responded"
    assert "campaign.responded" in PUBLIC_EVENT_TYPES
    assert event.payload == {
        **campaign.public_payload(),
        "response": {
            "id": published.public_id,
            "organisation": {"name": "FibreCo", "kind": "provider"},
            "body": "We can survey in March.\n\nOffers follow.",
            "created_at": published.created_at.isoformat(),
        },
    }
    found = await response_for_event(store.database, event.id)
    assert found is not None and found.public_id == published.public_id


async def test_responses_are_read_oldest_first(store: Store) -> None:
    campaign = await tipped_campaign(store)
    fibre, _ = await create_organisation_api_key(store, "a@fibreco.example", "FibreCo", "provider")
    council, _ = await create_organisation_api_key(
        store, "b@leeds.example", "Leeds City Council", "council"
    )
    now = utcnow()
    await publish_response(store, campaign.id, council.id, "Second.", now=now)
    await publish_response(store, campaign.id, fibre.id, "First.", now=now - timedelta(hours=2))
    found = await list_responses(store.database, campaign.id)
    assert [r.body for r in found] == ["First.", "Second."]
    assert [r.organisation_kind for r in found] == ["provider", "council"]


async def test_one_response_a_day_per_organisation_and_campaign(store: Store) -> None:
    campaign = await tipped_campaign(store)
    other_campaign = await tipped_campaign(store)
    fibre, _ = await create_organisation_api_key(store, "a@fibreco.example", "FibreCo", "provider")
    other, _ = await create_organisation_api_key(store, "b@netco.example", "NetCo", "provider")
    now = utcnow()
    first = await publish_response(store, campaign.id, fibre.id, "First.", now=now)

    before = await table_snapshot(store)
    with pytest.raises(ResponseRateLimited) as limited:
        await publish_response(store, campaign.id, fibre.id, "Again.", now=now + timedelta(hours=5))
    assert limited.value.next_allowed_at == first.created_at + timedelta(hours=24)
    assert "one response a day" in str(limited.value)
    assert await table_snapshot(store) == before

    # Another organisation, or another campaign, is not held back by it.
    await publish_response(store, campaign.id, other.id, "Ours.", now=now + timedelta(hours=5))
    await publish_response(store, other_campaign.id, fibre.id, "There.", now=now)
    # A day later the same organisation may respond again.
    await publish_response(store, campaign.id, fibre.id, "Later.", now=now + timedelta(hours=25))
    bodies = [r.body for r in await list_responses(store.database, campaign.id)]
    assert bodies == ["First.", "Ours.", "Later."]


async def test_the_limit_holds_when_two_responses_race(store: Store) -> None:
    campaign = await tipped_campaign(store)
    org, _ = await create_organisation_api_key(store, "ops@fibreco.example", "FibreCo", "provider")

    outcomes = await asyncio.gather(
        *(publish_response(store, campaign.id, org.id, f"Response {i}.") for i in range(4)),
        return_exceptions=True,
    )

    published = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(published) == 1
    assert all(isinstance(o, ResponseRateLimited) for o in refused), refused
    stored = await store.database.fetch_val(sa.select(sa.func.count()).select_from(responses))
    assert stored == 1
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("campaign.responded") == 1


async def test_a_campaign_closed_meanwhile_takes_no_response(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    await cancel_campaign(store, campaign.slug, lead.id)
    org, _ = await create_organisation_api_key(
        store, "ops@leeds.example", "Leeds City Council", "council"
    )
    before = await table_snapshot(store)
    with pytest.raises(WrongState):
        await publish_response(store, campaign.id, org.id, "Too late.")
    assert await table_snapshot(store) == before
