"""Anonymising pledgers' personal data a set time after their campaign closes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from notifications.mail import DevMailbox
from notifications.messages import MessageRenderer
from notifications.outbox import dispatch_events, scrub_pledge_mail, send_due_emails
from notifications.tables import emails
from notifications.worker import Worker
from pledges import retention
from pledges.campaigns import Campaign, cancel_campaign, expire_due_campaigns, get_campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge, withdraw_pledge
from pledges.retention import anonymise_closed_campaigns
from pledges.store import Store, utcnow
from pledges.tables import campaigns, pledges
from pledges.tokens import Signer
from tests.conftest import table_snapshot
from tests.factories import (
    make_campaign,
    make_cancelled_campaign,
    make_confirmed_pledge,
    make_lead,
    pledge_data,
)

DAYS = 10


def renderer() -> MessageRenderer:
    return MessageRenderer(Signer("retention-test-secret"), "http://testserver", "gs@example.org")


async def pledge_rows(store: Store, campaign: Campaign) -> list[dict[str, Any]]:
    rows = await store.database.fetch_all(
        sa.select(pledges).where(pledges.c.campaign_id == campaign.id).order_by(pledges.c.id)
    )
    return [dict(r._mapping) for r in rows]


async def anonymised(store: Store, campaign: Campaign) -> list[bool]:
    return [p["anonymised_at"] is not None for p in await pledge_rows(store, campaign)]


async def send_all_email(store: Store) -> None:
    await dispatch_events(store)
    while await send_due_emails(store, DevMailbox(), renderer()):
        pass


def everything(snapshot: dict[str, list[tuple[Any, ...]]]) -> str:
    return "\n".join(str(v) for rows in snapshot.values() for row in rows for v in row)


async def test_only_campaigns_closed_longer_ago_than_the_retention_are_anonymised(
    store: Store,
) -> None:
    lead, _ = await make_lead(store)
    expired = await make_campaign(store, lead, deadline=(utcnow() + timedelta(hours=1)).isoformat())
    cancelled = await make_campaign(store, lead)
    tipped = await make_campaign(store, lead, target=1)  # deadline in 30 days
    still_open = await make_campaign(store, lead)
    for campaign in (expired, cancelled, tipped, still_open):
        await make_confirmed_pledge(store, campaign.slug, 1)
    await expire_due_campaigns(store, now=expired.deadline + timedelta(seconds=1))
    await cancel_campaign(store, cancelled.slug, lead.id)
    gone = await get_campaign(store.database, cancelled.slug)
    closed = await get_campaign(store.database, expired.slug)
    assert gone.closed_at is not None and closed.closed_at is not None
    assert closed.status == "expired" and closed.closed_at > gone.closed_at
    tipped = await get_campaign(store.database, tipped.slug)
    assert tipped.status == "tipped" and tipped.tipped_at is not None

    # Not yet: nothing closed DAYS ago at this time.
    now = gone.closed_at + timedelta(days=DAYS) - timedelta(minutes=1)
    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 0
    now = gone.closed_at + timedelta(days=DAYS, minutes=1)
    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 1
    assert await anonymised(store, cancelled) == [True]
    assert await anonymised(store, expired) == [False]
    # The tipped one counts from its deadline, not from the day it tipped.
    now = closed.closed_at + timedelta(days=DAYS, minutes=1)
    assert now > tipped.tipped_at + timedelta(days=DAYS)
    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 1
    assert await anonymised(store, expired) == [True]
    assert await anonymised(store, tipped) == [False]

    now = tipped.deadline + timedelta(days=DAYS, minutes=1)
    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 1
    assert await anonymised(store, tipped) == [True]
    assert await anonymised(store, still_open) == [False]


async def test_personal_data_goes_everywhere_and_counts_stay(store: Store) -> None:
    campaign = await make_campaign(store, target=2)
    ids = []
    for i, status in enumerate(("confirmed", "confirmed", "withdrawn", "pending")):
        outcome = await record_pledge(
            store,
            campaign.slug,
            parse_pledge(
                pledge_data(
                    i,
                    name=f"Resident Name{i}",
                    email=f"Person.{i}@Mail.example",
                    postcode="LS6 2QP",
                    show_name=True,
                    share_contact=True,
                )
            ),
            ip=f"203.0.113.{i}",
            rate_limit=(),
        )
        ids.append(outcome.pledge_id)
        if status != "pending":
            await confirm_pledge(store, outcome.pledge_id)
            if status == "withdrawn":
                await withdraw_pledge(store, outcome.pledge_id)
    await send_all_email(store)  # confirmation emails and the tipped news, sent and kept
    tipped = await get_campaign(store.database, campaign.slug)
    assert tipped.status == "tipped"
    # One more message queued and not sent yet.
    await record_pledge(
        store, campaign.slug, parse_pledge(pledge_data(0, email="person.0@mail.example"))
    )
    await dispatch_events(store)
    before = await pledge_rows(store, campaign)
    snapshot = everything(await table_snapshot(store))
    assert "Resident Name1" in snapshot and "person.1@mail.example" in snapshot.lower()

    now = tipped.deadline + timedelta(days=DAYS, hours=1)
    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 4

    after = await pledge_rows(store, campaign)
    for old, new in zip(before, after, strict=True):
        assert new["name"] == ""
        assert new["email"] == f"anonymised-{old['id']}@invalid"
        assert new["email_canonical"] == f"anonymised:{old['id']}"
        assert new["postcode"] == new["district"] == "LS6"
        assert new["ip"] is None
        assert not new["show_name"] and not new["share_contact"]
        assert new["anonymised_at"] is not None
        for kept in ("status", "created_at", "confirmed_at", "withdrawn_at", "campaign_id"):
            assert new[kept] == old[kept], kept
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 2

    outbox = await store.database.fetch_all(
        sa.select(emails).where(emails.c.pledge_id.in_(ids)).order_by(emails.c.id)
    )
    assert len(outbox) == 7  # 4 confirmation links, 2 tipped news, 1 "already pledged"
    for row in outbox:
        assert row["to_address"] == "anonymised@invalid"
        assert (row["subject"], row["text_body"], row["html_body"]) == ("", "", "")
        assert row["status"] in ("stored", "failed")
    assert any(r["last_error"] == "Not sent: the pledge was anonymised." for r in outbox)
    # No trace of anyone's name, address or IP anywhere in the database.
    snapshot = everything(await table_snapshot(store)).lower()
    for i in range(4):
        assert f"resident name{i}" not in snapshot
        assert f"person.{i}@mail.example" not in snapshot
        assert f"person{i}@mail.example" not in snapshot
    assert "ls6 2qp" not in snapshot and "203.0.113." not in snapshot


async def test_it_is_idempotent(store: Store) -> None:
    campaign = await make_cancelled_campaign(store)
    await store.database.execute(
        sa.insert(pledges).values(
            campaign_id=campaign.id,
            name="Paper Person",
            email="paper@example.org",
            email_canonical="paper@example.org",
            postcode="LS6 1AB",
            district="LS6",
            source="paper",
            status="confirmed",
            created_at=utcnow(),
        )
    )
    now = utcnow() + timedelta(days=DAYS + 1)
    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 1
    before = await table_snapshot(store)

    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 0
    assert (
        await anonymise_closed_campaigns(
            store, DAYS, now + timedelta(days=400), scrub_mail=scrub_pledge_mail
        )
        == 0
    )
    assert await table_snapshot(store) == before


async def test_batches_and_a_limit(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "BATCH_SIZE", 3)
    campaign = await make_campaign(store, target=100)
    for i in range(8):
        await make_confirmed_pledge(store, campaign.slug, i)
    await store.database.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign.id)
        .values(status="expired", closed_at=utcnow() - timedelta(days=DAYS + 1))
    )

    assert await anonymise_closed_campaigns(store, DAYS, limit=4, scrub_mail=scrub_pledge_mail) == 4
    assert await anonymise_closed_campaigns(store, DAYS, scrub_mail=scrub_pledge_mail) == 4
    rows = await pledge_rows(store, campaign)
    assert all(r["anonymised_at"] is not None for r in rows)
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 8


async def test_the_worker_runs_it_at_most_once_an_hour(store: Store) -> None:
    async def closed_long_ago_with_a_pledge(i: int) -> None:
        campaign = await make_campaign(store)
        await make_confirmed_pledge(store, campaign.slug, i)
        await store.database.execute(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign.id)
            .values(status="cancelled", closed_at=utcnow() - timedelta(days=DAYS + 1))
        )

    await closed_long_ago_with_a_pledge(1)
    worker = Worker(store, DevMailbox(), renderer(), pledge_retention_days=DAYS)
    assert await worker.anonymise_if_due() == 1

    await closed_long_ago_with_a_pledge(2)
    assert await worker.anonymise_if_due() == 0  # within the hour: not run
    worker._retention_due = 0.0  # as if the hour had passed
    assert await worker.anonymise_if_due() == 1

    # A worker without a retention period never anonymises.
    await closed_long_ago_with_a_pledge(3)
    assert await Worker(store, DevMailbox(), renderer()).anonymise_if_due() == 0
