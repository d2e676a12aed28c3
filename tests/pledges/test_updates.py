"""Campaign updates: validation, who may post, and the one-a-day, three-a-week limit,
exact even when two updates are posted at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from pledges.errors import CampaignNotOpen, NotCampaignLead, ValidationFailed
from pledges.journal import PUBLIC_EVENT_TYPES, events_for_campaign
from pledges.store import Store, utcnow
from pledges.tables import campaign_updates, campaigns
from pledges.updates import (
    UpdateRateLimited,
    list_updates,
    next_update_allowed,
    parse_update,
    post_update,
)
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_lead

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def test_one_a_day() -> None:
    assert next_update_allowed([], NOW) is None
    assert next_update_allowed([NOW - timedelta(hours=3)], NOW) == NOW + timedelta(hours=21)
    assert next_update_allowed([NOW - timedelta(hours=25)], NOW) is None


def test_three_a_week() -> None:
    recent = [NOW - timedelta(days=d) for d in (2, 4, 6)]
    # Allowed again when the oldest of the three is a week old.
    assert next_update_allowed(recent, NOW) == NOW + timedelta(days=1)
    assert next_update_allowed(recent[:2], NOW) is None
    assert next_update_allowed([NOW - timedelta(days=d) for d in (2, 4, 8)], NOW) is None


def test_both_limits_give_the_later_time() -> None:
    recent = [NOW - timedelta(hours=2), NOW - timedelta(days=5), NOW - timedelta(days=6, hours=23)]
    assert next_update_allowed(recent, NOW) == NOW + timedelta(hours=22)
    recent = [NOW - timedelta(hours=2), NOW - timedelta(days=1, hours=1), NOW - timedelta(days=3)]
    assert next_update_allowed(recent, NOW) == NOW + timedelta(days=4)


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"title": "", "body": ""}, ["title", "body"]),
        ({"title": "Line one\nLine two", "body": "Hello"}, ["title"]),
        ({"title": "x" * 201, "body": "Hello"}, ["title"]),
        ({"title": "News", "body": "x" * 5001}, ["body"]),
        ({"title": "News", "body": "nul \x00 here"}, ["body"]),
    ],
)
async def test_invalid_updates_store_nothing(
    store: Store, data: dict[str, str], fields: list[str]
) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed) as caught:
        await post_update(store, campaign.slug, lead.id, parse_update(data))
    assert [e.field for e in caught.value.errors] == fields
    assert await table_snapshot(store) == before


async def test_only_the_lead_of_a_published_campaign_posts(store: Store) -> None:
    lead, _ = await make_lead(store)
    other, _ = await make_lead(store, "other@example.org")
    campaign = await make_campaign(store, lead)
    draft = await make_campaign(store, lead, draft=True)
    data = {"title": "News", "body": "Hello"}
    with pytest.raises(NotCampaignLead):
        await post_update(store, campaign.slug, other.id, parse_update(data))
    with pytest.raises(CampaignNotOpen):
        await post_update(store, draft.slug, lead.id, parse_update(data))
    # Hidden by an administrator: no mail goes to its pledgers.
    await store.database.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign.id).values(hidden_at=utcnow())
    )
    with pytest.raises(CampaignNotOpen) as hidden:
        await post_update(store, campaign.slug, lead.id, parse_update(data))
    assert hidden.value.status == "hidden"
    assert await list_updates(store.database, campaign.id) == []


async def test_posting_stores_the_update_and_an_internal_event(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)

    posted = await post_update(
        store,
        campaign.slug,
        lead.id,
        parse_update({"title": " Survey done ", "body": "One.\r\n\r\nTwo."}),
    )

    assert posted.title == "Survey done"
    assert posted.paragraphs == ["One.", "Two."]
    assert [u.id for u in await list_updates(store.database, campaign.id)] == [posted.id]
    found = await events_for_campaign(store.database, campaign.id)
    assert found[-1].type == "campaign.update_posted"
    assert found[-1].payload == {"update_id": posted.id}
    assert "campaign.update_posted" not in PUBLIC_EVENT_TYPES


async def test_the_limit_holds_when_two_updates_race(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    # Two updates five and six days ago: one more is allowed this week, and only one.
    await store.database.execute_many(
        sa.insert(campaign_updates),
        [
            {
                "campaign_id": campaign.id,
                "title": f"Old {d}",
                "body": "Old news",
                "created_at": utcnow() - timedelta(days=d),
            }
            for d in (5, 6)
        ],
    )

    results = await asyncio.gather(
        *(
            post_update(
                store, campaign.slug, lead.id, parse_update({"title": f"News {i}", "body": "Hello"})
            )
            for i in range(6)
        ),
        return_exceptions=True,
    )

    posted = [r for r in results if not isinstance(r, BaseException)]
    limited = [r for r in results if isinstance(r, UpdateRateLimited)]
    assert len(posted) == 1
    assert len(limited) == 5
    assert len(await list_updates(store.database, campaign.id)) == 3
