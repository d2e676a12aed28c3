"""The delivery record: only a provider residents chose keeps one; a missed date is
recorded once with one public event; residents' confirmations that the service reached
them are counted exactly, however many arrive at once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from pledges.delivery import (
    MilestoneChange,
    change_milestone,
    confirm_service,
    delivery_record,
    mark_missed_milestones,
    parse_milestone,
    parse_milestone_change,
    record_milestone,
)
from pledges.errors import NotFound, NotPermitted, ValidationFailed, WrongState
from pledges.journal import PUBLIC_EVENT_TYPES, events_for_campaign
from pledges.pledging import withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import choices, offers
from tests.conftest import table_snapshot
from tests.factories import make_delivered_campaign

TODAY = date(2027, 3, 1)


def survey(due_on: date) -> dict[str, str]:
    return {"kind": "survey", "title": "Survey every street", "due_on": due_on.isoformat()}


async def served_count(store: Store, offer_id: int) -> int:
    return int(
        await store.database.fetch_val(
            sa.select(offers.c.served_count).where(offers.c.id == offer_id)
        )
    )


async def test_only_a_chosen_provider_keeps_a_record(store: Store) -> None:
    delivered = await make_delivered_campaign(store)
    today = utcnow().date()
    milestone = parse_milestone(survey(today + timedelta(days=30)))

    before = await table_snapshot(store)
    with pytest.raises(NotPermitted, match="No resident chose an offer of yours"):
        await record_milestone(store, delivered.campaign, delivered.rival.id, milestone)
    assert await table_snapshot(store) == before

    posted = await record_milestone(store, delivered.campaign, delivered.provider.id, milestone)
    assert posted.public_id.startswith("dlm_")
    assert (posted.kind, posted.title, posted.due_on) == (
        "survey",
        "Survey every street",
        today + timedelta(days=30),
    )
    assert posted.status_on(today) == "planned"
    record = await delivery_record(store.database, delivered.campaign.id)
    [shown] = record.providers
    assert shown.name == delivered.provider.name
    assert [m.public_id for m in shown.milestones] == [posted.public_id]
    [offer] = shown.offers
    assert (offer.chosen, offer.served) == (3, 0)


async def test_no_record_before_the_round_closes(store: Store) -> None:
    delivered = await make_delivered_campaign(store, closed=False)
    milestone = parse_milestone(survey(utcnow().date() + timedelta(days=3)))
    before = await table_snapshot(store)
    with pytest.raises(WrongState, match="choice round has closed"):
        await record_milestone(store, delivered.campaign, delivered.provider.id, milestone)
    with pytest.raises(WrongState):
        await confirm_service(store, delivered.choosers[0])
    assert await table_snapshot(store) == before
    assert not (await delivery_record(store.database, delivered.campaign.id)).shown


def test_a_milestone_is_checked_field_by_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_milestone(
            {"kind": "dig", "title": "two\nlines", "due_on": "2027-02-28", "colour": "red"},
            TODAY,
        )
    found = {(e.field, e.code) for e in caught.value.errors}
    assert found == {
        ("kind", "not_in_choices"),
        ("title", "not_one_line"),
        ("due_on", "not_in_future"),
        ("colour", "unknown_field"),
    }
    with pytest.raises(ValidationFailed) as caught:
        parse_milestone({"kind": "build", "title": "x" * 201, "due_on": "1 March"}, TODAY)
    assert {(e.field, e.code) for e in caught.value.errors} == {
        ("title", "too_long"),
        ("due_on", "not_a_date"),
    }
    with pytest.raises(ValidationFailed) as caught:
        parse_milestone({"kind": "build", "title": "Build", "due_on": "2037-03-01"}, TODAY)
    [error] = caught.value.errors
    assert (error.field, error.code) == ("due_on", "too_far_ahead")
    assert parse_milestone(
        {"kind": " first_connections ", "title": "  First homes live ", "due_on": "2027-03-01"},
        TODAY,
    ) == parse_milestone({"kind": "first_connections", "title": "First homes live",
                          "due_on": "2027-03-01"}, TODAY)  # fmt: skip

    with pytest.raises(ValidationFailed) as caught:
        parse_milestone_change({}, TODAY)
    assert [(e.field, e.code) for e in caught.value.errors] == [("body", "required")]
    with pytest.raises(ValidationFailed) as caught:
        parse_milestone_change({"done_on": "2027-03-02", "due_on": "2027-02-30"}, TODAY)
    assert {(e.field, e.code) for e in caught.value.errors} == {
        ("done_on", "out_of_range"),
        ("due_on", "not_a_date"),
    }
    assert parse_milestone_change({"done_on": "2027-03-01"}, TODAY) == MilestoneChange(
        done_on=TODAY
    )


async def test_done_is_final_and_only_ones_own_milestones_change(store: Store) -> None:
    delivered = await make_delivered_campaign(store)
    today = utcnow().date()
    posted = await record_milestone(
        store,
        delivered.campaign,
        delivered.provider.id,
        parse_milestone(survey(today + timedelta(days=10))),
    )
    moved = await change_milestone(
        store,
        delivered.campaign,
        delivered.provider.id,
        posted.public_id,
        MilestoneChange(due_on=today + timedelta(days=20)),
    )
    assert moved.due_on == today + timedelta(days=20)
    with pytest.raises(NotPermitted):  # not chosen: not even another's milestone to find
        await change_milestone(
            store,
            delivered.campaign,
            delivered.rival.id,
            posted.public_id,
            MilestoneChange(done_on=today),
        )
    with pytest.raises(NotFound):
        await change_milestone(
            store,
            delivered.campaign,
            delivered.provider.id,
            "dlm_nothing",
            MilestoneChange(done_on=today),
        )
    with pytest.raises(ValidationFailed) as caught:  # before the round closed: not possible
        await change_milestone(
            store,
            delivered.campaign,
            delivered.provider.id,
            posted.public_id,
            MilestoneChange(done_on=today - timedelta(days=30)),
        )
    assert caught.value.errors[0].field == "done_on"
    done = await change_milestone(
        store,
        delivered.campaign,
        delivered.provider.id,
        posted.public_id,
        MilestoneChange(done_on=today),
    )
    assert (done.done_on, done.status_on(today)) == (today, "done")
    before = await table_snapshot(store)
    with pytest.raises(WrongState, match="marked done"):
        await change_milestone(
            store,
            delivered.campaign,
            delivered.provider.id,
            posted.public_id,
            MilestoneChange(due_on=today + timedelta(days=40)),
        )
    assert await table_snapshot(store) == before
    # A done milestone is never missed, whatever its date.
    assert await mark_missed_milestones(store, utcnow() + timedelta(days=60)) == 0


async def test_a_missed_date_is_recorded_once_with_one_public_event(store: Store) -> None:
    delivered = await make_delivered_campaign(store)
    today = utcnow().date()
    posted = await record_milestone(
        store,
        delivered.campaign,
        delivered.provider.id,
        parse_milestone(survey(today + timedelta(days=2))),
    )
    # Still due on its day; missed once the whole day is over.
    on_the_day = utcnow() + timedelta(days=2)
    assert await mark_missed_milestones(store, on_the_day) == 0
    after = utcnow() + timedelta(days=3)
    marked = await asyncio.gather(
        mark_missed_milestones(store, after), mark_missed_milestones(store, after)
    )
    assert sorted(marked) == [0, 1]
    assert await mark_missed_milestones(store, after + timedelta(days=1)) == 0

    missed = [
        e
        for e in await events_for_campaign(store.database, delivered.campaign.id)
        if e.type == "delivery.milestone_missed"
    ]
    assert len(missed) == 1
    assert "delivery.milestone_missed" in PUBLIC_EVENT_TYPES
    payload = missed[0].payload
    assert payload["slug"] == delivered.campaign.slug
    assert "organisation_id" not in payload  # public: every subscriber may hear of it
    assert payload["milestone"]["id"] == posted.public_id
    assert payload["milestone"]["provider"] == delivered.provider.name
    assert payload["milestone"]["due_on"] == (today + timedelta(days=2)).isoformat()
    assert payload["milestone"]["done_on"] is None
    [shown] = (await delivery_record(store.database, delivered.campaign.id)).providers
    [milestone] = shown.milestones
    assert milestone.missed_at is not None
    assert milestone.status_on(today) == "missed"  # shown as missed even if the date moves


async def test_concurrent_confirmations_count_each_home_once(store: Store) -> None:
    delivered = await make_delivered_campaign(store, choosers=12)
    confirming = delivered.choosers[:9]
    # 20 requests from 9 homes: some confirm twice or three times, all at once.
    requests = confirming + confirming[:8] + confirming[:3]
    assert len(requests) == 20
    outcomes = await asyncio.gather(*(confirm_service(store, p) for p in requests))

    assert sum(o.newly_confirmed for o in outcomes) == 9
    assert await served_count(store, delivered.offer_id) == 9
    confirmed = await store.database.fetch_val(
        sa.select(sa.func.count())
        .select_from(choices)
        .where(
            choices.c.campaign_id == delivered.campaign.id,
            choices.c.service_confirmed_at.is_not(None),
        )
    )
    assert confirmed == 9
    assert all(o.confirmed_at is not None for o in outcomes)
    [shown] = (await delivery_record(store.database, delivered.campaign.id)).providers
    assert [(o.chosen, o.served) for o in shown.offers] == [(12, 9)]

    again = await confirm_service(store, confirming[0])
    assert not again.newly_confirmed and again.served == 9


async def test_only_a_counted_pledge_that_chose_an_offer_confirms(store: Store) -> None:
    delivered = await make_delivered_campaign(store)
    before = await table_snapshot(store)
    with pytest.raises(WrongState, match="none of the offers"):
        await confirm_service(store, delivered.chose_none)
    await withdraw_pledge(store, delivered.choosers[0])
    before = await table_snapshot(store)
    with pytest.raises(WrongState, match="not counted"):
        await confirm_service(store, delivered.choosers[0])
    assert await table_snapshot(store) == before
    assert await served_count(store, delivered.offer_id) == 0
