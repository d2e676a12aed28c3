"""Review of campaigns by administrators: under MODERATION=pre a published campaign waits,
unseen, until approved; rejected, it is a draft again with the reason kept; under post it
is live at once and rejecting it hides it. Every decision is recorded once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pledges.campaigns import (
    create_campaign,
    get_campaign,
    list_campaigns,
    open_campaign,
    parse_campaign,
    parse_changes,
    update_campaign,
)
from pledges.discovery import find_campaigns
from pledges.errors import CampaignNotOpen, ValidationFailed
from pledges.journal import events_for_campaign
from pledges.moderation import unhide_campaign
from pledges.pledging import parse_pledge, record_pledge
from pledges.review import (
    REASONS_BY_CODE,
    NotAwaitingReview,
    approve_campaign,
    decisions_for_campaign,
    public_rejections,
    reject_campaign,
    review_queue,
)
from pledges.store import Store, utcnow
from pledges.tables import campaigns, moderation_decisions
from tests.conftest import table_snapshot
from tests.factories import campaign_data, make_campaign, make_lead, pledge_data

ADMIN = "admin@example.org"


async def submitted(store: Store, mode: str = "pre", **overrides: object) -> tuple[int, str]:
    """A draft its lead publishes under MODERATION=`mode`: (lead id, slug)."""
    lead, _ = await make_lead(store)
    draft = await make_campaign(store, lead, draft=True, **overrides)
    await open_campaign(store, draft.slug, lead.id, moderation=mode)
    return lead.id, draft.slug


async def event_types(store: Store, slug: str) -> list[str]:
    campaign = await get_campaign(store.database, slug)
    return [e.type for e in await events_for_campaign(store.database, campaign.id)]


async def public_slugs(store: Store) -> set[str]:
    listed = {c.slug for c in await list_campaigns(store.database)}
    in_area, others = await find_campaigns(store.database, "LS6")
    found = {c.slug for c in [*in_area, *others]}
    return listed | found


async def test_under_pre_a_published_campaign_waits_unseen_and_takes_no_pledges(
    store: Store,
) -> None:
    _, slug = await submitted(store)
    campaign = await get_campaign(store.database, slug)
    assert campaign.status == "pending_review"
    assert campaign.moderation == "pending" and campaign.submitted_at is not None
    assert campaign.opened_at is None
    assert not campaign.is_public
    assert slug not in await public_slugs(store)
    assert [c.slug for c in await list_campaigns(store.database, status="pending_review")] == []
    # Nothing a webhook could carry: only the inside "submitted" event.
    assert await event_types(store, slug) == ["campaign.submitted"]
    with pytest.raises(CampaignNotOpen):
        await record_pledge(store, slug, parse_pledge(pledge_data(1)))
    assert [c.slug for c in await review_queue(store.database)] == [slug]


async def test_creating_a_published_campaign_under_pre_also_waits(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await create_campaign(
        store, lead.id, parse_campaign(campaign_data()), moderation="pre"
    )
    assert campaign.status == "pending_review"
    assert await event_types(store, campaign.slug) == ["campaign.submitted"]
    assert campaign.slug not in await public_slugs(store)


async def test_approval_opens_it_with_the_event_publishing_writes_and_records_who(
    store: Store,
) -> None:
    _, slug = await submitted(store)
    approved = await approve_campaign(store, slug, ADMIN)
    assert approved.status == "open" and approved.opened_at is not None
    assert approved.moderation == "approved"
    assert approved.is_public and slug in await public_slugs(store)
    assert await event_types(store, slug) == [
        "campaign.submitted",
        "campaign.approved",
        "campaign.opened",
    ]
    [decision] = await decisions_for_campaign(store.database, approved.id)
    assert (decision.decision, decision.administrator, decision.mode) == ("approve", ADMIN, "pre")
    assert decision.reason is None
    await record_pledge(store, slug, parse_pledge(pledge_data(1)))  # open: it takes pledges
    assert await review_queue(store.database) == []


async def test_rejection_returns_a_draft_with_the_reason_and_the_lead_can_resubmit(
    store: Store,
) -> None:
    lead_id, slug = await submitted(store)
    rejected = await reject_campaign(store, slug, ADMIN, "unclear", "  Say which streets.  ")
    assert (rejected.status, rejected.moderation) == ("draft", "rejected")
    assert not rejected.is_public and slug not in await public_slugs(store)
    [decision] = await decisions_for_campaign(store.database, rejected.id)
    assert (decision.decision, decision.reason, decision.note) == (
        "reject",
        "unclear",
        "Say which streets.",
    )
    assert decision.reason_title == REASONS_BY_CODE["unclear"].title
    assert "campaign.opened" not in await event_types(store, slug)

    # The lead edits the draft (any field, as a draft) and publishes it again.
    edit = parse_changes({"summary": "Fibre for Cardigan Road and Kirkstall Lane."}, rejected)
    await update_campaign(store, slug, lead_id, edit)
    again = await open_campaign(store, slug, lead_id, moderation="pre")
    assert (again.status, again.moderation) == ("pending_review", "pending")
    assert [c.slug for c in await review_queue(store.database)] == [slug]
    approved = await approve_campaign(store, slug, "other-admin@example.org")
    assert approved.status == "open"
    decisions = await decisions_for_campaign(store.database, approved.id)
    assert [(d.decision, d.administrator) for d in decisions] == [
        ("approve", "other-admin@example.org"),
        ("reject", ADMIN),
    ]


async def test_under_post_it_is_live_at_once_and_rejecting_it_hides_it(store: Store) -> None:
    _, slug = await submitted(store, "post")
    live = await get_campaign(store.database, slug)
    assert (live.status, live.moderation) == ("open", "pending")
    assert live.is_public and slug in await public_slugs(store)
    assert await event_types(store, slug) == ["campaign.opened"]
    assert [c.slug for c in await review_queue(store.database)] == [slug]

    hidden = await reject_campaign(store, slug, ADMIN, "advertising", "")
    assert hidden.status == "open" and hidden.hidden_at is not None
    assert hidden.moderation == "rejected"
    assert slug not in await public_slugs(store)
    assert (await event_types(store, slug))[-2:] == ["campaign.rejected", "campaign.hidden"]
    [decision] = await decisions_for_campaign(store.database, hidden.id)
    assert (decision.mode, decision.reason) == ("post", "advertising")


async def test_approving_a_live_campaign_changes_nothing_the_public_sees(store: Store) -> None:
    _, slug = await submitted(store, "post")
    approved = await approve_campaign(store, slug, ADMIN)
    assert (approved.status, approved.moderation) == ("open", "approved")
    # One "campaign.opened" only: approving after going live does not publish it twice.
    assert (await event_types(store, slug)).count("campaign.opened") == 1


@pytest.mark.parametrize(
    ("reason", "note", "field"),
    [
        ("", "", "reason"),
        ("rude", "", "reason"),
        ("other", "   ", "note"),  # "another reason" must say which
        ("unclear", "x" * 2001, "note"),
        ("unclear", "a\x00b", "note"),
    ],
)
async def test_a_rejection_without_a_good_reason_is_refused_by_field_and_changes_nothing(
    store: Store, reason: str, note: str, field: str
) -> None:
    _, slug = await submitted(store)
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed) as refused:
        await reject_campaign(store, slug, ADMIN, reason, note)
    assert [e.field for e in refused.value.errors] == [field]
    assert await table_snapshot(store) == before


async def test_a_campaign_not_in_the_queue_cannot_be_decided(store: Store) -> None:
    unreviewed = await make_campaign(store)  # published with MODERATION=off
    with pytest.raises(NotAwaitingReview):
        await approve_campaign(store, unreviewed.slug, ADMIN)
    _, slug = await submitted(store)
    await approve_campaign(store, slug, ADMIN)
    before = await table_snapshot(store)
    with pytest.raises(NotAwaitingReview):
        await reject_campaign(store, slug, ADMIN, "unclear", "")
    with pytest.raises(NotAwaitingReview):
        await approve_campaign(store, slug, ADMIN)
    assert await table_snapshot(store) == before


async def test_two_administrators_deciding_at_once_make_one_decision(store: Store) -> None:
    _, slug = await submitted(store)
    outcomes = await asyncio.gather(
        approve_campaign(store, slug, "one@example.org"),
        reject_campaign(store, slug, "two@example.org", "duplicate", ""),
        approve_campaign(store, slug, "three@example.org"),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, NotAwaitingReview)]
    assert len(refused) == 2, outcomes
    count = await store.database.fetch_val(
        sa.select(sa.func.count()).select_from(moderation_decisions)
    )
    assert count == 1
    campaign = await get_campaign(store.database, slug)
    events = await event_types(store, slug)
    assert events.count("campaign.approved") + events.count("campaign.rejected") == 1
    assert campaign.moderation in ("approved", "rejected")


async def test_the_public_list_of_rejections_names_no_one_and_hides_what_must_not_repeat(
    store: Store,
) -> None:
    _, unclear = await submitted(store, title="Buses for Meanwood")
    _, rude = await submitted(store, title="Something nobody should read again")
    _, fixed = await submitted(store, title="Fibre fixed later")
    await reject_campaign(store, unclear, ADMIN, "unclear", "A private note for the lead")
    await reject_campaign(store, rude, ADMIN, "offensive", "")
    lead_id = (await get_campaign(store.database, fixed)).lead_id
    await reject_campaign(store, fixed, ADMIN, "implausible", "")
    await open_campaign(store, fixed, lead_id, moderation="pre")
    await approve_campaign(store, fixed, ADMIN)  # approved since: no longer listed

    found = await public_rejections(store.database)
    assert [(r.title, r.reason.code) for r in found] == [
        (None, "offensive"),
        ("Buses for Meanwood", "unclear"),
    ]
    assert all(not hasattr(r, "note") and not hasattr(r, "administrator") for r in found)

    # Rejected while live (post), it is listed while hidden, and not once shown again.
    _, live = await submitted(store, "post", title="Advert for a shop")
    await reject_campaign(store, live, ADMIN, "advertising", "")
    assert "Advert for a shop" in [r.title for r in await public_rejections(store.database)]
    await unhide_campaign(store, live)
    assert "Advert for a shop" not in [r.title for r in await public_rejections(store.database)]


async def test_a_campaign_whose_deadline_passed_in_the_queue_is_not_opened(
    store: Store,
) -> None:
    _, slug = await submitted(store)
    await store.database.execute(
        sa.update(campaigns)
        .where(campaigns.c.slug == slug)
        .values(deadline=utcnow() - timedelta(minutes=1))
    )
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed) as refused:
        await approve_campaign(store, slug, ADMIN)
    assert [e.field for e in refused.value.errors] == ["deadline"]
    assert await table_snapshot(store) == before
    # Rejected instead, it is a draft whose lead can set a later deadline.
    rejected = await reject_campaign(store, slug, ADMIN, "other", "The deadline has passed.")
    assert rejected.status == "draft"
