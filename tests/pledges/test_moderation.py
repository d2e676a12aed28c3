"""Moderation: hiding campaigns from every public surface, and striking out pledges in bulk
by campaign, address or range, email domain and time, with counts that stay exact."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges import moderation
from pledges.campaigns import Campaign, expire_due_campaigns, get_campaign, list_campaigns
from pledges.errors import (
    CampaignHidden,
    CampaignNotFound,
    PledgeInvalid,
    PledgeWithdrawn,
    StruckOutEmail,
    ValidationFailed,
)
from pledges.moderation import hide_campaign, invalidate_pledges, unhide_campaign
from pledges.pledging import (
    PledgeOutcome,
    confirm_pledge,
    parse_pledge,
    record_paper_pledge,
    record_pledge,
    withdraw_pledge,
)
from pledges.store import Store
from pledges.tables import campaigns, events, pledges
from tests.app.pages.confirming import press_confirm
from tests.app.pages.test_hand_notes_pages import doorstep
from tests.app.pages.test_leads import csrf_from, sign_in
from tests.app.pages.test_organisations import csrf_of
from tests.app.pages.test_residents import csrf_for, page_of
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_lead, pledge_data


async def pledge_from(
    store: Store, slug: str, i: int, *, ip: str | None = None, **overrides: Any
) -> int:
    outcome = await record_pledge(
        store, slug, parse_pledge(pledge_data(i, **overrides)), ip=ip, rate_limit=()
    )
    return outcome.pledge_id


async def confirmed_from(
    store: Store, slug: str, i: int, *, ip: str | None = None, **overrides: Any
) -> int:
    pledge_id = await pledge_from(store, slug, i, ip=ip, **overrides)
    await confirm_pledge(store, pledge_id)
    return pledge_id


async def statuses(store: Store, campaign: Campaign) -> dict[int, str]:
    rows = await store.database.fetch_all(
        sa.select(pledges.c.id, pledges.c.status).where(pledges.c.campaign_id == campaign.id)
    )
    return {r["id"]: r["status"] for r in rows}


async def invalid_ids(store: Store) -> set[int]:
    rows = await store.database.fetch_all(
        sa.select(pledges.c.id).where(pledges.c.status == "invalid")
    )
    return {r["id"] for r in rows}


async def counted(store: Store, campaign: Campaign) -> tuple[int, int]:
    """The campaign's stored count, and its confirmed pledges counted one by one."""
    stored = await store.database.fetch_val(
        sa.select(campaigns.c.confirmed_count).where(campaigns.c.id == campaign.id)
    )
    actual = await store.database.fetch_val(
        sa.select(sa.func.count())
        .select_from(pledges)
        .where(pledges.c.campaign_id == campaign.id, pledges.c.status == "confirmed")
    )
    return int(stored), int(actual)


async def events_of(store: Store, kind: str) -> list[dict[str, Any]]:
    rows = await store.database.fetch_all(
        sa.select(events.c.payload).where(events.c.type == kind).order_by(events.c.id)
    )
    return [json.loads(r["payload"]) for r in rows]


async def set_created_at(store: Store, pledge_id: int, when: datetime) -> None:
    await store.database.execute(
        sa.update(pledges).where(pledges.c.id == pledge_id).values(created_at=when)
    )


# Hiding


async def test_hiding_records_one_event_and_unhiding_restores(store: Store) -> None:
    campaign = await make_campaign(store)

    hidden = await hide_campaign(store, campaign.slug)
    again = await hide_campaign(store, campaign.slug)

    assert hidden.hidden_at is not None and not hidden.is_public
    assert again.hidden_at == hidden.hidden_at
    assert await events_of(store, "campaign.hidden") == [{"slug": campaign.slug}]
    assert await list_campaigns(store.database) == []
    listed = await list_campaigns(store.database, include_hidden=True)
    assert [c.slug for c in listed] == [campaign.slug]

    shown = await unhide_campaign(store, campaign.slug)
    assert shown.hidden_at is None and shown.is_public
    assert await events_of(store, "campaign.unhidden") == [{"slug": campaign.slug}]
    assert [c.slug for c in await list_campaigns(store.database)] == [campaign.slug]


async def test_hiding_an_unknown_campaign_is_not_found(store: Store) -> None:
    with pytest.raises(CampaignNotFound):
        await hide_campaign(store, "no-such-campaign")


PUBLIC_PATHS = ("/c/{slug}", "/c/{slug}/pledged", "/c/{slug}/widget", "/c/{slug}/badge.svg")


async def test_a_hidden_campaign_leaves_every_public_surface_and_comes_back(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    lead, key = await make_lead(store)
    campaign = await make_campaign(store, lead, title="Fibre for Moderated Street")
    confirmed = await make_confirmed_pledge(store, campaign.slug, 1)
    pending = await pledge_from(store, campaign.slug, 2)
    csrf = await csrf_for(client, campaign.slug)
    signer = app.state.services.signer

    await hide_campaign(store, campaign.slug)

    assert "Moderated Street" not in (await client.get("/")).text
    for path in PUBLIC_PATHS:
        answer = await client.get(path.format(slug=campaign.slug))
        assert answer.status_code == 404, path
        assert "Moderated Street" not in answer.text
    api = await client.get(f"/api/v1/campaigns/{campaign.slug}")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    listed = (await client.get("/api/v1/campaigns")).json()["campaigns"]
    assert campaign.slug not in [c["slug"] for c in listed]

    # No pledges, by any route, answered as if there were no campaign; nothing stored.
    before = await table_snapshot(store)
    web = await client.post(
        f"/c/{campaign.slug}/pledge",
        data={"csrf_token": csrf, "name": "A", "email": "new@example.org", "postcode": "LS6 1AB"},
    )
    assert web.status_code == 404
    by_api = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(7))
    assert by_api.status_code == 404
    paper = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/pledges",
        json={**pledge_data(8), "source": "paper"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert paper.status_code == 404
    with pytest.raises(CampaignNotFound):
        await record_paper_pledge(store, campaign.slug, lead.id, parse_pledge(pledge_data(9)))

    # A pending pledge's link is refused, on the page and the API, and not counted.
    token = signer.sign(pending, "pledge-confirm")
    page = await press_confirm(client, token)
    assert page.status_code == 409
    assert "moderators have taken this campaign down" in page_of(page).words
    assert "has not been counted" in page_of(page).words
    api_confirm = await client.post("/api/v1/pledges/confirm", json={"token": token})
    assert api_confirm.status_code == 409
    assert "moderators" in api_confirm.json()["detail"]
    # An already-confirmed pledge's link does not show the hidden campaign either.
    old = await press_confirm(client, signer.sign(confirmed, "pledge-confirm"))
    assert old.status_code == 409 and "Moderated Street" not in old.text
    assert await table_snapshot(store) == before

    await unhide_campaign(store, campaign.slug)

    assert "Moderated Street" in (await client.get("/")).text
    for path in PUBLIC_PATHS:
        assert (await client.get(path.format(slug=campaign.slug))).status_code == 200, path
    assert (await client.get(f"/api/v1/campaigns/{campaign.slug}")).status_code == 200
    assert (await press_confirm(client, token)).status_code == 200
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 2
    again = await client.post(f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(7))
    assert again.status_code == 202


async def test_confirming_on_a_hidden_campaign_rolls_back(store: Store) -> None:
    campaign = await make_campaign(store)
    pending = await pledge_from(store, campaign.slug, 1)
    await hide_campaign(store, campaign.slug)

    with pytest.raises(CampaignHidden):
        await confirm_pledge(store, pending)

    assert (await statuses(store, campaign))[pending] == "pending"
    assert await counted(store, campaign) == (0, 0)


# Which pledges match


async def test_no_filter_is_refused_and_nothing_changes(store: Store) -> None:
    campaign = await make_campaign(store)
    await confirmed_from(store, campaign.slug, 1)
    before = await table_snapshot(store)

    for kwargs in ({}, {"ip": "  ", "email_domain": "", "since": "", "until": None}):
        with pytest.raises(ValidationFailed) as refused:
            await invalidate_pledges(store, **kwargs)
        assert [e.field for e in refused.value.errors] == ["filters"]

    assert await table_snapshot(store) == before


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"ip": "203.0.113.300"}, "ip", "Enter an IP address"),
        ({"ip": "not an address"}, "ip", "Enter an IP address"),
        ({"ip": "203.0.113.7/24"}, "ip", "did you mean 203.0.113.0/24"),
        ({"email_domain": "not a domain"}, "email_domain", "like example.com"),
        ({"email_domain": "a@b.example"}, "email_domain", "like example.com"),
        ({"since": "yesterday"}, "since", "Enter a date and time"),
        ({"until": "2025-13-01"}, "until", "Enter a date and time"),
        ({"since": "2025-03-02", "until": "2025-03-01"}, "until", "after the start"),
        ({"campaign_slug": "no-such-campaign"}, "campaign", "no campaign"),
    ],
)
async def test_bad_filters_are_refused_by_field_and_nothing_changes(
    store: Store, kwargs: dict[str, str], field: str, words: str
) -> None:
    campaign = await make_campaign(store)
    await confirmed_from(store, campaign.slug, 1, ip="203.0.113.7")
    before = await table_snapshot(store)

    with pytest.raises(ValidationFailed) as refused:
        await invalidate_pledges(store, **kwargs)  # type: ignore[arg-type]

    assert [e.field for e in refused.value.errors] == [field]
    assert words in refused.value.errors[0].message
    assert await table_snapshot(store) == before


async def test_ip_matches_one_address_exactly(store: Store) -> None:
    campaign = await make_campaign(store)
    target = await confirmed_from(store, campaign.slug, 1, ip="203.0.113.5")
    await confirmed_from(store, campaign.slug, 2, ip="203.0.113.50")
    await confirmed_from(store, campaign.slug, 3, ip="203.0.113.55")
    await confirmed_from(store, campaign.slug, 4)  # no address: a lead's key, or paper

    result = await invalidate_pledges(store, ip="203.0.113.5")

    assert await invalid_ids(store) == {target}
    assert (result.total, result.confirmed, result.pending) == (1, 1, 0)
    assert result.by_campaign == {campaign.slug: {"confirmed": 1}}
    assert await counted(store, campaign) == (3, 3)


async def test_ip_range_matches_cidr_ipv4_ipv6_and_mapped_addresses(store: Store) -> None:
    campaign = await make_campaign(store, target=100)
    inside = [
        await confirmed_from(store, campaign.slug, 1, ip="203.0.113.0"),
        await confirmed_from(store, campaign.slug, 2, ip="203.0.113.255"),
        await pledge_from(store, campaign.slug, 3, ip="::ffff:203.0.113.9"),
    ]
    outside = [
        await confirmed_from(store, campaign.slug, 4, ip="203.0.112.255"),
        await confirmed_from(store, campaign.slug, 5, ip="203.0.114.0"),
        await confirmed_from(store, campaign.slug, 6, ip="2001:db8::1"),
    ]
    six = await confirmed_from(store, campaign.slug, 7, ip="2001:db8:0:1::7")

    result = await invalidate_pledges(store, ip="203.0.113.0/24")
    assert await invalid_ids(store) == set(inside)
    assert (result.confirmed, result.pending) == (2, 1)

    result = await invalidate_pledges(store, ip="2001:db8:0:1::/64")
    assert await invalid_ids(store) == {*inside, six}
    assert result.total == 1
    assert set(outside).isdisjoint(await invalid_ids(store))
    assert await counted(store, campaign) == (3, 3)


async def test_a_wider_range_than_whole_octets_is_exact(store: Store) -> None:
    campaign = await make_campaign(store, target=100)
    inside = await confirmed_from(store, campaign.slug, 1, ip="10.20.31.200")
    await confirmed_from(store, campaign.slug, 2, ip="10.20.32.1")  # just past /20
    await confirmed_from(store, campaign.slug, 3, ip="10.200.16.1")  # "10.20" as text

    await invalidate_pledges(store, ip="10.20.16.0/20")

    assert await invalid_ids(store) == {inside}


async def test_email_domain_is_case_insensitive_and_exact(store: Store) -> None:
    campaign = await make_campaign(store, target=100)
    matching = [
        await confirmed_from(store, campaign.slug, 1, email="One@Spam.Example"),
        await pledge_from(store, campaign.slug, 2, email="two@spam.example"),
    ]
    await confirmed_from(store, campaign.slug, 3, email="three@mail.spam.example")
    await confirmed_from(store, campaign.slug, 4, email="four@notspam.example")
    await confirmed_from(store, campaign.slug, 5, email="spam.example@example.org")

    result = await invalidate_pledges(store, email_domain="@SPAM.Example")

    assert await invalid_ids(store) == set(matching)
    assert (result.confirmed, result.pending) == (1, 1)
    assert await counted(store, campaign) == (3, 3)


async def test_email_domain_matches_as_pledges_are_stored(store: Store) -> None:
    campaign = await make_campaign(store)
    gmail = await confirmed_from(store, campaign.slug, 1, email="Some.One@googlemail.com")

    await invalidate_pledges(store, email_domain="googlemail.com")

    assert await invalid_ids(store) == {gmail}


async def test_time_range_is_from_inclusive_to_exclusive(store: Store) -> None:
    campaign = await make_campaign(store, target=100)
    at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    ids = {}
    for i, offset in enumerate((-1, 0, 59, 60, 24 * 60 - 1, 24 * 60 + 1)):
        ids[offset] = await confirmed_from(store, campaign.slug, i)
        await set_created_at(store, ids[offset], at + timedelta(minutes=offset))

    await invalidate_pledges(store, since="2025-03-01 12:00", until="2025-03-01T13:00Z")
    assert await invalid_ids(store) == {ids[0], ids[59]}

    # A date alone: from the start of that day; as the end, that whole day is included.
    result = await invalidate_pledges(store, since="2025-03-01", until="2025-03-01", dry_run=True)
    assert result.total == 2  # 11:59 and 13:00 on 1 March (12:00 and 12:59 are struck out)
    await invalidate_pledges(store, since=at + timedelta(minutes=60), until="2025-03-02T12:00")
    assert await invalid_ids(store) == {ids[0], ids[59], ids[60], ids[24 * 60 - 1]}
    assert await counted(store, campaign) == (2, 2)


async def test_filters_combine_and_withdrawn_pledges_are_left_alone(store: Store) -> None:
    lead, _ = await make_lead(store)
    first = await make_campaign(store, lead)
    second = await make_campaign(store, lead)
    hit = await confirmed_from(store, first.slug, 1, ip="198.51.100.7", email="a@bad.example")
    await confirmed_from(store, first.slug, 2, ip="198.51.100.8", email="b@good.example")
    await confirmed_from(store, second.slug, 3, ip="198.51.100.9", email="c@bad.example")
    withdrawn = await confirmed_from(
        store, first.slug, 4, ip="198.51.100.10", email="d@bad.example"
    )
    await withdraw_pledge(store, withdrawn)

    result = await invalidate_pledges(
        store, campaign_slug=first.slug, ip="198.51.100.0/24", email_domain="bad.example"
    )

    assert await invalid_ids(store) == {hit}
    assert result.by_campaign == {first.slug: {"confirmed": 1}}
    assert (await statuses(store, first))[withdrawn] == "withdrawn"


async def test_results_are_counted_per_campaign_and_events_recorded(store: Store) -> None:
    lead, _ = await make_lead(store)
    first = await make_campaign(store, lead, slug="aaa-first")
    second = await make_campaign(store, lead, slug="bbb-second")
    a = await confirmed_from(store, first.slug, 1, ip="192.0.2.1")
    b = await pledge_from(store, first.slug, 2, ip="192.0.2.2")
    c = await confirmed_from(store, second.slug, 3, ip="192.0.2.3")

    result = await invalidate_pledges(store, ip="192.0.2.0/24")

    assert result.by_status == {"confirmed": 2, "pending": 1}
    assert result.by_campaign == {
        "aaa-first": {"confirmed": 1, "pending": 1},
        "bbb-second": {"confirmed": 1},
    }
    assert sorted(
        (e["pledge_id"], e["was_confirmed"]) for e in await events_of(store, "pledge.invalidated")
    ) == sorted([(a, True), (b, False), (c, True)])
    rows = await store.database.fetch_all(
        sa.select(pledges.c.invalidated_at).where(pledges.c.status == "invalid")
    )
    assert len(rows) == 3 and all(r["invalidated_at"] is not None for r in rows)
    # Run again: nothing is left to strike out, and nothing is counted twice.
    assert (await invalidate_pledges(store, ip="192.0.2.0/24")).total == 0
    assert await counted(store, first) == (0, 0)
    assert await counted(store, second) == (0, 0)


async def test_a_dry_run_changes_nothing_and_predicts_the_real_run(store: Store) -> None:
    campaign = await make_campaign(store, target=100)
    for i in range(4):
        await confirmed_from(store, campaign.slug, i, ip="203.0.113.1")
    await pledge_from(store, campaign.slug, 10, ip="203.0.113.2")
    await confirmed_from(store, campaign.slug, 11, ip="192.0.2.1")
    before = await table_snapshot(store)

    preview = await invalidate_pledges(store, ip="203.0.113.0/24", dry_run=True)

    assert await table_snapshot(store) == before
    assert preview.dry_run
    assert preview.by_status == {"confirmed": 4, "pending": 1}
    done = await invalidate_pledges(store, ip="203.0.113.0/24")
    assert not done.dry_run
    assert (done.by_status, done.by_campaign) == (preview.by_status, preview.by_campaign)


async def test_batches_cover_every_match(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moderation, "BATCH_SIZE", 3)
    campaign = await make_campaign(store, target=100)
    spam = [await confirmed_from(store, campaign.slug, i, ip="203.0.113.1") for i in range(7)]
    others = [await confirmed_from(store, campaign.slug, 100 + i) for i in range(4)]

    assert (await invalidate_pledges(store, campaign_slug=campaign.slug, dry_run=True)).total == 11
    result = await invalidate_pledges(store, ip="203.0.113.1")

    assert result.total == 7
    assert await invalid_ids(store) == set(spam)
    assert set(others).isdisjoint(await invalid_ids(store))
    assert await counted(store, campaign) == (4, 4)


# Counts and tipping


async def test_counts_stay_exact_and_a_tipped_campaign_stays_tipped(store: Store) -> None:
    campaign = await make_campaign(store, target=3)
    for i in range(3):
        await confirmed_from(store, campaign.slug, i, email=f"real{i}@example.org")
    for i in range(3, 5):
        await confirmed_from(store, campaign.slug, i, email=f"bot{i}@bots.example")
    await pledge_from(store, campaign.slug, 5, email="bot5@bots.example")
    assert (await get_campaign(store.database, campaign.slug)).status == "tipped"

    result = await invalidate_pledges(store, email_domain="bots.example")
    assert (result.confirmed, result.pending) == (2, 1)
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.status) == (3, "tipped")

    await invalidate_pledges(store, email_domain="example.org")
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.status) == (0, "tipped")  # tipping is irreversible
    assert await counted(store, campaign) == (0, 0)
    assert len(await events_of(store, "campaign.tipped")) == 1


async def test_exact_while_pledges_are_confirmed_and_withdrawn_concurrently(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches: many invalidation transactions interleave with the residents'.
    monkeypatch.setattr(moderation, "BATCH_SIZE", 4)
    campaign = await make_campaign(store, target=60)
    ids = []
    for i in range(200):
        ip = f"203.0.113.{i % 100}" if i % 2 == 0 else f"198.51.100.{i % 100}"
        ids.append(await pledge_from(store, campaign.slug, i, ip=ip))
    for pledge_id in ids[:40]:  # some are confirmed already
        await confirm_pledge(store, pledge_id)

    async def confirm(pledge_id: int) -> None:
        try:
            await confirm_pledge(store, pledge_id)
        except (PledgeInvalid, PledgeWithdrawn):
            pass  # struck out or withdrawn first

    async def withdraw(pledge_id: int) -> None:
        await withdraw_pledge(store, pledge_id)

    work: list[Any] = []
    for i, pledge_id in enumerate(ids):
        if i >= 40:
            work.append(confirm(pledge_id))
        if i % 5 == 0:
            work.append(withdraw(pledge_id))
    # Three runs over the same range, started among the residents' work.
    for at in (len(work) * 3 // 4, len(work) // 2, len(work) // 4):
        work.insert(at, invalidate_pledges(store, ip="203.0.113.0/24"))
    done = await asyncio.gather(*work)
    results = [r for r in done if isinstance(r, moderation.InvalidationResult)]

    stored, actual = await counted(store, campaign)
    assert stored == actual
    found = await statuses(store, campaign)
    in_range = [p for i, p in enumerate(ids) if i % 2 == 0]
    # Every pledge in the range was struck out unless it had been withdrawn first.
    assert {found[p] for p in in_range} <= {"invalid", "withdrawn"}
    struck = sum(1 for p in in_range if found[p] == "invalid")
    assert sum(r.total for r in results) == struck
    events = await events_of(store, "pledge.invalidated")
    assert sorted(e["pledge_id"] for e in events) == sorted(
        p for p in in_range if found[p] == "invalid"
    )
    out_of_range = [p for i, p in enumerate(ids) if i % 2 == 1]
    assert {found[p] for p in out_of_range} <= {"confirmed", "withdrawn"}
    assert len(await events_of(store, "campaign.tipped")) <= 1


# After being struck out


async def test_a_struck_out_pledge_cannot_be_confirmed_or_revived(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead)
    pending = await pledge_from(store, campaign.slug, 1, email="spam@bots.example")
    confirmed = await confirmed_from(store, campaign.slug, 2, email="more@bots.example")
    await invalidate_pledges(store, email_domain="bots.example")
    before = await table_snapshot(store)
    signer = app.state.services.signer

    for pledge_id in (pending, confirmed):
        with pytest.raises(PledgeInvalid):
            await confirm_pledge(store, pledge_id)
        token = signer.sign(pledge_id, "pledge-confirm")
        page = await press_confirm(client, token)
        assert page.status_code == 410
        assert "struck out by the site's moderators" in page_of(page).words
        assert "pledge again" not in page_of(page).words
        api = await client.post("/api/v1/pledges/confirm", json={"token": token})
        assert api.status_code == 410
        assert "struck out by the site's moderators" in api.json()["detail"]
    assert await table_snapshot(store) == before

    # Pledging again with the same email answers as a repeat and changes nothing:
    # no revival, and no "already pledged" email that would call it counted.
    again: PledgeOutcome = await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(1, email="spam@bots.example")), rate_limit=()
    )
    assert (again.pledge_id, again.repeated) == (pending, True)
    web = await client.post(
        f"/c/{campaign.slug}/pledge",
        data={
            "csrf_token": await csrf_for(client, campaign.slug),
            "name": "Spam",
            "email": "SPAM@bots.example",
            "postcode": "LS6 1AB",
        },
    )
    assert web.status_code == 303 and web.headers["location"] == f"/c/{campaign.slug}/pledged"
    api_again = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/pledges",
        json=pledge_data(2, email="more@bots.example"),
    )
    assert api_again.status_code == 202
    # A lead recording it on paper is told it was struck out (not "confirmed"); see below.
    with pytest.raises(StruckOutEmail):
        await record_paper_pledge(
            store, campaign.slug, lead.id, parse_pledge(pledge_data(2, email="more@bots.example"))
        )
    assert await table_snapshot(store) == before
    assert await counted(store, campaign) == (0, 0)


async def test_a_paper_pledge_of_a_struck_out_email_says_so_on_the_api_and_the_form(
    client: httpx.AsyncClient, store: Store
) -> None:
    # It used to answer 201 "confirmed", repeated: the lead believed a struck-out pledge
    # counted. Now a 409 naming `email`, the form says it beside the field, and nothing moves.
    lead, key = await make_lead(store)
    campaign = await make_campaign(store, lead)
    await confirmed_from(store, campaign.slug, 2, email="more@bots.example")
    await invalidate_pledges(store, email_domain="bots.example")
    await sign_in(client, store, lead.email)
    before = await table_snapshot(store)

    api = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/pledges",
        json=pledge_data(2, email="More@Bots.example", source="paper"),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert api.status_code == 409, api.text
    assert [e["field"] for e in api.json()["errors"]] == ["email"]
    assert "struck out by the site's moderators" in api.json()["detail"]

    form = await client.post(
        f"/lead/campaigns/{campaign.slug}/paper-pledges",
        data=doorstep(
            await csrf_from(client, f"/lead/campaigns/{campaign.slug}"),
            email="more@bots.example",
            consent="on",
        ),
    )
    assert form.status_code == 409
    assert "struck out by the site's moderators" in page_of(form).by_id("paper-email-error").words
    assert await table_snapshot(store) == before
    assert await counted(store, campaign) == (0, 0)


# A hidden campaign pauses: no expiry, and its pledgers can still leave


async def test_a_hidden_campaign_does_not_expire_until_it_is_shown_again(store: Store) -> None:
    campaign = await make_campaign(store, title="Fibre for Moderated Street")
    await make_confirmed_pledge(store, campaign.slug, 1)
    await hide_campaign(store, campaign.slug)
    after_deadline = campaign.deadline + timedelta(days=1)

    # Hidden, it is as good as absent: no "expired" event, so no email and no webhook.
    assert await expire_due_campaigns(store, after_deadline) == []
    assert (await get_campaign(store.database, campaign.slug)).status == "open"
    assert await events_of(store, "campaign.expired") == []

    await unhide_campaign(store, campaign.slug)
    assert await expire_due_campaigns(store, after_deadline) == [campaign.slug]
    assert [e["slug"] for e in await events_of(store, "campaign.expired")] == [campaign.slug]


async def test_a_resident_withdraws_from_a_hidden_campaign_that_is_not_shown(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title="Fibre for Moderated Street")
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    await hide_campaign(store, campaign.slug)
    token = app.state.services.signer.sign(pledge_id, "pledge-withdraw")

    asked = await client.get(f"/pledges/withdraw?token={token}")
    assert asked.status_code == 200
    assert "Moderated Street" not in asked.text and f"/c/{campaign.slug}" not in asked.text
    assert "moderators have taken this campaign down" in page_of(asked).words
    done = await client.post(
        "/pledges/withdraw", data={"csrf_token": csrf_of(asked.text), "token": token}
    )
    assert done.status_code == 200
    assert "Moderated Street" not in done.text and f"/c/{campaign.slug}" not in done.text
    assert (await statuses(store, campaign))[pledge_id] == "withdrawn"
    assert await counted(store, campaign) == (0, 0)

    again = await client.get(f"/pledges/withdraw?token={token}")
    assert "already withdrawn" in page_of(again).words and "Moderated Street" not in again.text
    assert "Withdraw my pledge" not in again.text
