"""Pledging rules on SQLite and PostgreSQL: one pledge per person, paper pledges, closing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pledges.campaigns import (
    cancel_campaign,
    create_campaign,
    expire_due_campaigns,
    get_campaign,
    open_campaign,
    parse_campaign,
)
from pledges.errors import (
    CampaignNotOpen,
    NotCampaignLead,
    PledgeNotFound,
    PledgeWithdrawn,
    ValidationFailed,
)
from pledges.journal import events_for_campaign
from pledges.pledging import (
    confirm_pledge,
    get_pledge,
    parse_pledge,
    pledges_for_campaign,
    record_paper_pledge,
    record_pledge,
    withdraw_pledge,
)
from pledges.store import Store, utcnow
from pledges.tables import campaigns, pledges
from tests.conftest import table_snapshot
from tests.factories import campaign_data, make_campaign, make_lead, pledge_data


async def event_types(store: Store, campaign_id: int) -> list[str]:
    return [e.type for e in await events_for_campaign(store.database, campaign_id)]


async def pledge_count(store: Store, campaign_id: int) -> int:
    return int(
        await store.database.fetch_val(
            sa.select(sa.func.count())
            .select_from(pledges)
            .where(pledges.c.campaign_id == campaign_id)
        )
    )


async def set_deadline_in_the_past(store: Store, campaign_id: int) -> None:
    await store.database.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(deadline=utcnow() - timedelta(minutes=5))
    )


# One pledge per person per campaign


async def test_a_new_pledge_is_pending_and_not_counted(store: Store) -> None:
    campaign = await make_campaign(store, target=3)
    outcome = await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(1, postcode="ls161ab"))
    )
    assert (outcome.status, outcome.repeated) == ("pending", False)
    pledge = await get_pledge(store.database, outcome.pledge_id)
    assert (pledge.status, pledge.postcode, pledge.district) == ("pending", "LS16 1AB", "LS16")
    assert pledge.source == "web"
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 0
    assert await event_types(store, campaign.id) == ["campaign.opened", "pledge.created"]


@pytest.mark.parametrize(
    "again",
    [
        "jo.bloggs@gmail.com",
        "JoBloggs@gmail.com",
        "jo.bloggs+campaign@gmail.com",
        "j.o.b.l.o.g.g.s@googlemail.com",
        " JOBLOGGS@GMAIL.COM ",
    ],
)
async def test_a_repeat_with_the_same_canonical_email_is_not_a_second_pledge(
    store: Store, again: str
) -> None:
    campaign = await make_campaign(store)
    first = await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(1, email="jobloggs@gmail.com"))
    )
    repeat = await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(2, email=again, postcode="LS16 5AB"))
    )
    assert repeat.repeated is True
    assert repeat.pledge_id == first.pledge_id
    assert await pledge_count(store, campaign.id) == 1
    # The first pledge's details stand.
    pledge = await get_pledge(store.database, first.pledge_id)
    assert (pledge.name, pledge.postcode) == ("Resident 1", "LS6 1AB")
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events] == ["campaign.opened", "pledge.created", "pledge.repeated"]
    assert events[-1].payload == {"pledge_id": first.pledge_id}


async def test_dots_count_elsewhere_so_those_are_two_people(store: Store) -> None:
    campaign = await make_campaign(store)
    first = await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(1, email="jo.bloggs@example.org"))
    )
    second = await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(2, email="jobloggs@example.org"))
    )
    assert not first.repeated and not second.repeated
    assert first.pledge_id != second.pledge_id
    assert await pledge_count(store, campaign.id) == 2


async def test_the_same_person_may_pledge_to_two_campaigns(store: Store) -> None:
    lead, _ = await make_lead(store)
    one = await make_campaign(store, lead)
    two = await make_campaign(store, lead)
    a = await record_pledge(store, one.slug, parse_pledge(pledge_data(1)))
    b = await record_pledge(store, two.slug, parse_pledge(pledge_data(1)))
    assert not a.repeated and not b.repeated and a.pledge_id != b.pledge_id


async def test_a_repeat_of_a_confirmed_pledge_leaves_it_confirmed_and_counted(
    store: Store,
) -> None:
    campaign = await make_campaign(store)
    first = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, first.pledge_id)
    repeat = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    assert repeat.repeated
    assert (await get_pledge(store.database, first.pledge_id)).status == "confirmed"
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1


async def test_concurrent_identical_pledges_make_one_pledge(store: Store) -> None:
    campaign = await make_campaign(store)
    outcomes = await asyncio.gather(
        *(record_pledge(store, campaign.slug, parse_pledge(pledge_data(7))) for _ in range(10))
    )
    assert len({o.pledge_id for o in outcomes}) == 1
    assert sorted(o.repeated for o in outcomes) == [False] + [True] * 9
    assert await pledge_count(store, campaign.id) == 1
    types = await event_types(store, campaign.id)
    assert (types.count("pledge.created"), types.count("pledge.repeated")) == (1, 9)


async def test_pledging_again_after_withdrawing_starts_afresh(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    first = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, first.pledge_id)
    progress = await withdraw_pledge(store, first.pledge_id)
    assert progress.confirmed == 0

    again = await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(1, name="Jo Again", postcode="LS16 5AB"))
    )
    assert again.repeated is False
    assert again.pledge_id == first.pledge_id
    pledge = await get_pledge(store.database, again.pledge_id)
    assert (pledge.status, pledge.name, pledge.district) == ("pending", "Jo Again", "LS16")
    assert pledge.confirmed_at is None and pledge.withdrawn_at is None
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 0
    assert await pledge_count(store, campaign.id) == 1

    outcome = await confirm_pledge(store, again.pledge_id)
    assert outcome.newly_confirmed and outcome.progress.confirmed == 1
    assert (await event_types(store, campaign.id)).count("pledge.created") == 2


# Withdrawing


async def test_withdrawing_a_pending_pledge_does_not_change_the_count(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    counted = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, counted.pledge_id)
    pending = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(2)))

    progress = await withdraw_pledge(store, pending.pledge_id)

    assert progress.confirmed == 1
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1
    assert (await get_pledge(store.database, pending.pledge_id)).status == "withdrawn"
    events = await events_for_campaign(store.database, campaign.id)
    assert events[-1].type == "pledge.withdrawn"
    assert events[-1].payload == {"pledge_id": pending.pledge_id, "was_confirmed": False}


async def test_withdrawing_a_confirmed_pledge_lowers_the_count(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, outcome.pledge_id)
    progress = await withdraw_pledge(store, outcome.pledge_id)
    assert (progress.status, progress.confirmed) == ("open", 0)
    events = await events_for_campaign(store.database, campaign.id)
    assert events[-1].payload == {"pledge_id": outcome.pledge_id, "was_confirmed": True}


async def test_withdrawing_twice_changes_nothing_the_second_time(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, outcome.pledge_id)
    await withdraw_pledge(store, outcome.pledge_id)
    before = await table_snapshot(store)
    progress = await withdraw_pledge(store, outcome.pledge_id)
    assert progress.confirmed == 0
    assert await table_snapshot(store) == before


async def test_a_withdrawn_pledge_cannot_be_confirmed_by_its_old_link(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await withdraw_pledge(store, outcome.pledge_id)
    with pytest.raises(PledgeWithdrawn):
        await confirm_pledge(store, outcome.pledge_id)
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 0


async def test_unknown_pledges_are_not_found(store: Store) -> None:
    with pytest.raises(PledgeNotFound):
        await confirm_pledge(store, 999_999)
    with pytest.raises(PledgeNotFound):
        await withdraw_pledge(store, 999_999)


# Paper pledges


async def test_a_paper_pledge_is_confirmed_at_once_and_counts(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=2)
    outcome = await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(1)))
    assert (outcome.status, outcome.repeated) == ("confirmed", False)
    pledge = await get_pledge(store.database, outcome.pledge_id)
    assert (pledge.status, pledge.source) == ("confirmed", "paper")
    assert pledge.confirmed_at is not None
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1
    events = await events_for_campaign(store.database, campaign.id)
    [confirmed] = [e for e in events if e.type == "pledge.confirmed"]
    assert confirmed.payload == {"pledge_id": outcome.pledge_id, "source": "paper"}
    # No confirmation email is owed: no pledge.created event.
    assert "pledge.created" not in [e.type for e in events]

    await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(2)))
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed) == ("tipped", 2)


async def test_a_paper_pledge_confirms_an_existing_pending_pledge(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=5)
    online = await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(1, email="Jo.Bloggs@gmail.com"))
    )

    paper = await record_paper_pledge(
        store,
        campaign.slug,
        lead.id,
        parse_pledge(pledge_data(1, email="jobloggs+paper@googlemail.com")),
    )

    assert paper.pledge_id == online.pledge_id
    assert (paper.status, paper.repeated) == ("confirmed", False)
    assert (await get_pledge(store.database, online.pledge_id)).status == "confirmed"
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1
    assert await pledge_count(store, campaign.id) == 1
    # The emailed link still works and does not count the pledge twice.
    outcome = await confirm_pledge(store, online.pledge_id)
    assert outcome.newly_confirmed is False
    assert outcome.progress.confirmed == 1


async def test_a_paper_pledge_for_a_confirmed_pledge_is_a_repeat(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=5)
    first = await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(1)))
    again = await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(1)))
    assert (again.pledge_id, again.repeated) == (first.pledge_id, True)
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1


async def test_a_paper_pledge_by_another_lead_is_refused(store: Store) -> None:
    lead, _ = await make_lead(store, "lead@example.org")
    other, _ = await make_lead(store, "other@example.org")
    campaign = await make_campaign(store, lead)
    before = await table_snapshot(store)
    with pytest.raises(NotCampaignLead):
        await record_paper_pledge(store, campaign.slug, other.id, parse_pledge(pledge_data(1)))
    assert await table_snapshot(store) == before


# Closing: expiry, cancellation, drafts


async def test_confirming_after_the_campaign_expired_changes_nothing(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await set_deadline_in_the_past(store, campaign.id)
    assert await expire_due_campaigns(store) == [campaign.slug]
    before = await table_snapshot(store)

    with pytest.raises(CampaignNotOpen) as caught:
        await confirm_pledge(store, outcome.pledge_id)

    assert caught.value.status == "expired"
    assert await table_snapshot(store) == before
    assert (await get_pledge(store.database, outcome.pledge_id)).status == "pending"


async def test_no_pledges_after_expiry_or_cancellation(store: Store) -> None:
    lead, _ = await make_lead(store)
    expired = await make_campaign(store, lead)
    cancelled = await make_campaign(store, lead)
    await set_deadline_in_the_past(store, expired.id)
    await expire_due_campaigns(store)
    await cancel_campaign(store, cancelled.slug, lead.id)
    for slug, status in ((expired.slug, "expired"), (cancelled.slug, "cancelled")):
        with pytest.raises(CampaignNotOpen) as caught:
            await record_pledge(store, slug, parse_pledge(pledge_data(1)))
        assert caught.value.status == status
        with pytest.raises(CampaignNotOpen):
            await record_paper_pledge(store, slug, lead.id, parse_pledge(pledge_data(2)))
    assert await pledge_count(store, expired.id) == 0
    assert await pledge_count(store, cancelled.id) == 0


async def test_a_tipped_campaign_still_takes_pledges(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=1)
    await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(1)))
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(2)))
    confirmed = await confirm_pledge(store, outcome.pledge_id)
    assert (confirmed.progress.status, confirmed.progress.confirmed) == ("tipped", 2)


async def test_expiry_takes_only_open_campaigns_past_their_deadline(store: Store) -> None:
    lead, _ = await make_lead(store)
    due = await make_campaign(store, lead, target=5)
    future = await make_campaign(store, lead, target=5)
    tipped = await make_campaign(store, lead, target=1)
    draft = await make_campaign(store, lead, draft=True)
    cancelled = await make_campaign(store, lead)
    await record_paper_pledge(store, tipped.slug, lead.id, parse_pledge(pledge_data(1)))
    await cancel_campaign(store, cancelled.slug, lead.id)
    for c in (due, tipped, draft, cancelled):
        await set_deadline_in_the_past(store, c.id)

    assert await expire_due_campaigns(store) == [due.slug]

    statuses = {
        c.slug: (await get_campaign(store.database, c.slug)).status
        for c in (due, future, tipped, draft, cancelled)
    }
    assert statuses == {
        due.slug: "expired",
        future.slug: "open",
        tipped.slug: "tipped",
        draft.slug: "draft",
        cancelled.slug: "cancelled",
    }
    after = await get_campaign(store.database, due.slug)
    assert after.closed_at is not None
    for c in (future, tipped, draft, cancelled):
        assert "campaign.expired" not in await event_types(store, c.id)
    assert await expire_due_campaigns(store) == []


async def test_concurrent_expiry_writes_one_event(store: Store, database_url: str) -> None:
    lead, _ = await make_lead(store)
    due = [await make_campaign(store, lead) for _ in range(3)]
    for c in due:
        await set_deadline_in_the_past(store, c.id)
    # Several workers at once: some share this store, others have their own pool.
    others = [Store(database_url) for _ in range(2)]
    for other in others:
        await other.connect()
    try:
        stores = [store, store, store, *others]
        results = await asyncio.gather(*(expire_due_campaigns(s) for s in stores))
    finally:
        for other in others:
            await other.disconnect()

    expired = sorted(slug for result in results for slug in result)
    assert expired == sorted(c.slug for c in due)
    for c in due:
        assert (await get_campaign(store.database, c.slug)).status == "expired"
        assert (await event_types(store, c.id)).count("campaign.expired") == 1


async def test_the_expired_event_carries_the_final_count(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=5)
    await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(1)))
    await set_deadline_in_the_past(store, campaign.id)
    await expire_due_campaigns(store)
    [event] = [
        e
        for e in await events_for_campaign(store.database, campaign.id)
        if e.type == "campaign.expired"
    ]
    assert event.payload["slug"] == campaign.slug
    assert (event.payload["confirmed"], event.payload["target"]) == (1, 5)


async def test_cancelling_writes_one_event(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    cancelled = await cancel_campaign(store, campaign.slug, lead.id)
    assert cancelled.status == "cancelled" and cancelled.closed_at is not None
    with pytest.raises(CampaignNotOpen):
        await cancel_campaign(store, campaign.slug, lead.id)
    types = await event_types(store, campaign.id)
    assert types.count("campaign.cancelled") == 1


async def test_only_the_lead_can_cancel(store: Store) -> None:
    lead, _ = await make_lead(store, "lead@example.org")
    other, _ = await make_lead(store, "other@example.org")
    campaign = await make_campaign(store, lead)
    with pytest.raises(NotCampaignLead):
        await cancel_campaign(store, campaign.slug, other.id)
    assert (await get_campaign(store.database, campaign.slug)).status == "open"


async def test_a_tipped_campaign_cannot_be_cancelled(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=1)
    await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(1)))
    with pytest.raises(CampaignNotOpen):
        await cancel_campaign(store, campaign.slug, lead.id)
    assert "campaign.cancelled" not in await event_types(store, campaign.id)


async def test_a_draft_takes_no_pledges_until_opened(store: Store) -> None:
    lead, _ = await make_lead(store)
    draft = await make_campaign(store, lead, draft=True)
    assert draft.status == "draft"
    assert await event_types(store, draft.id) == []
    with pytest.raises(CampaignNotOpen) as caught:
        await record_pledge(store, draft.slug, parse_pledge(pledge_data(1)))
    assert caught.value.status == "draft"
    with pytest.raises(CampaignNotOpen):
        await record_paper_pledge(store, draft.slug, lead.id, parse_pledge(pledge_data(1)))
    assert await pledge_count(store, draft.id) == 0

    opened = await open_campaign(store, draft.slug, lead.id)
    assert opened.status == "open" and opened.opened_at is not None
    assert await event_types(store, draft.id) == ["campaign.opened"]
    outcome = await record_pledge(store, draft.slug, parse_pledge(pledge_data(1)))
    assert outcome.status == "pending"


# Validation


async def test_pledge_validation_names_each_missing_field(store: Store) -> None:
    campaign = await make_campaign(store)
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed) as caught:
        await record_pledge(store, campaign.slug, parse_pledge({}))
    assert [e.field for e in caught.value.errors] == ["name", "email", "postcode"]
    assert await table_snapshot(store) == before


async def test_pledge_validation_names_each_bad_field(store: Store) -> None:
    campaign = await make_campaign(store)
    bad = {
        "name": "x" * 201,
        "email": "not-an-email",
        "postcode": "ZZ1 1ZZ",
        "show_name": "maybe",
        "share_contact": 3,
    }
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed) as caught:
        await record_pledge(store, campaign.slug, parse_pledge(bad))
    errors = {e.field: e.message for e in caught.value.errors}
    assert set(errors) == {"name", "email", "postcode", "show_name", "share_contact"}
    assert "200" in errors["name"]
    assert "LS6 1AB" in errors["postcode"]
    assert await table_snapshot(store) == before


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ("not an object", ["body"]),
        ([1, 2], ["body"]),
        ({"name": " ", "email": " ", "postcode": " "}, ["name", "email", "postcode"]),
        ({"name": 5, "email": None, "postcode": 6}, ["name", "email", "postcode"]),
    ],
)
async def test_pledge_validation_of_wrong_shapes(
    store: Store, data: object, fields: list[str]
) -> None:
    campaign = await make_campaign(store)
    with pytest.raises(ValidationFailed) as caught:
        await record_pledge(store, campaign.slug, parse_pledge(data))
    assert [e.field for e in caught.value.errors] == fields


async def test_paper_pledges_are_validated_too(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    with pytest.raises(ValidationFailed) as caught:
        await record_paper_pledge(
            store, campaign.slug, lead.id, parse_pledge(pledge_data(1, email="nope"))
        )
    assert [e.field for e in caught.value.errors] == ["email"]


async def test_valid_input_is_tidied(store: Store) -> None:
    campaign = await make_campaign(store)
    outcome = await record_pledge(
        store,
        campaign.slug,
        parse_pledge(
            {
                "name": "  Jo Bloggs ",
                "email": " Jo.Bloggs@Example.org ",
                "postcode": "sw1a1aa",
                "show_name": "on",
                "share_contact": "",
            }
        ),
    )
    pledge = await get_pledge(store.database, outcome.pledge_id)
    assert (pledge.name, pledge.email, pledge.postcode, pledge.district) == (
        "Jo Bloggs",
        "Jo.Bloggs@Example.org",
        "SW1A 1AA",
        "SW1A",
    )
    assert (pledge.show_name, pledge.share_contact) == (True, False)


async def test_campaign_validation_names_each_field(store: Store) -> None:
    lead, _ = await make_lead(store)
    bad = {
        "slug": "Not A Slug!",
        "title": "x",
        "summary": "",
        "category": "teleportation",
        "area": {"name": "", "postcode_districts": ["LS6", "nowhere", 7]},
        "target": 0,
        "deadline": "yesterday",
        "milestones": [0, 50],
        "draft": "yes",
    }
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed) as caught:
        await create_campaign(store, lead.id, parse_campaign(bad))
    fields = [e.field for e in caught.value.errors]
    assert sorted(fields) == sorted(
        [
            "title",
            "summary",
            "slug",
            "category",
            "area.name",
            "area.postcode_districts[1]",
            "area.postcode_districts[2]",
            "target",
            "deadline",
            "milestones",
            "draft",
        ]
    )
    assert await table_snapshot(store) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"deadline": (utcnow() - timedelta(days=1)).isoformat()}, "deadline"),
        ({"deadline": (utcnow() + timedelta(days=800)).isoformat()}, "deadline"),
        ({"target": True}, "target"),
        ({"target": 10_000_001}, "target"),
        ({"target": "10"}, "target"),
        ({"area": "Headingley"}, "area"),
        ({"area": {"name": "Headingley", "postcode_districts": []}}, "area.postcode_districts"),
        ({"milestones": [50] * 11}, "milestones"),
        ({"milestones": [100]}, "milestones"),
    ],
)
async def test_campaign_validation_of_single_fields(
    store: Store, overrides: dict[str, object], field: str
) -> None:
    lead, _ = await make_lead(store)
    with pytest.raises(ValidationFailed) as caught:
        await create_campaign(store, lead.id, parse_campaign(campaign_data(**overrides)))
    assert [e.field for e in caught.value.errors] == [field]


async def test_pledges_for_campaign_lists_by_status(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(2)))
    pending = await pledges_for_campaign(store.database, campaign.id, status="pending")
    confirmed = await pledges_for_campaign(store.database, campaign.id, status="confirmed")
    assert [p.name for p in pending] == ["Resident 1"]
    assert [p.name for p in confirmed] == ["Resident 2"]
