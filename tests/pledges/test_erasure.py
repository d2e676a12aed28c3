"""Erasing a resident's data on SQLite and PostgreSQL: counts stay exact, personal data
goes from the pledges, the email outbox and the sign-in links, and nobody else's rows move."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlalchemy as sa

from notifications.mail import DevMailbox
from notifications.messages import MessageRenderer
from notifications.outbox import dispatch_events, scrub_pledge_mail, send_due_emails
from notifications.tables import emails
from pledges.campaigns import Campaign, get_campaign
from pledges.erasure import erase_resident, resident_pledges
from pledges.errors import PledgeWithdrawn
from pledges.identity import canonical_email
from pledges.magic_links import issue_link
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge, withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import campaigns, events, magic_links, pledges
from pledges.tokens import Signer
from tests.conftest import TEST_SECRET, table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_pending_pledges, pledge_data

JO = "josmith@gmail.com"  # the canonical form of every address Jo pledged with


async def pledge_as(store: Store, slug: str, email: str, *, confirm: bool, **extra: Any) -> int:
    data = pledge_data(0, name="Jo Smith", email=email, postcode="LS6 2XY", **extra)
    outcome = await record_pledge(store, slug, parse_pledge(data), ip="203.0.113.9")
    if confirm:
        await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


async def send_queued_mail(store: Store) -> None:
    """What the worker does: queue each event's emails, then send them (kept, no SMTP)."""
    renderer = MessageRenderer(Signer(TEST_SECRET), "http://testserver", "noreply@example.org")
    await dispatch_events(store)
    while await send_due_emails(store, DevMailbox(), renderer):
        pass


async def confirmed_count(store: Store, campaign: Campaign) -> int:
    return (await get_campaign(store.database, campaign.slug)).confirmed


async def counted(store: Store, campaign_id: int) -> int:
    return int(
        await store.database.fetch_val(
            sa.select(sa.func.count())
            .select_from(pledges)
            .where(pledges.c.campaign_id == campaign_id, pledges.c.status == "confirmed")
        )
    )


def without(
    snapshot: dict[str, list[tuple[Any, ...]]], pledge_ids: set[int]
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that is not about these pledges. Campaign counts and the journal move with
    them, so those two tables are checked on their own."""
    email_pledge = list(emails.c.keys()).index("pledge_id")
    kept = {k: v for k, v in snapshot.items() if k not in ("campaigns", "events")}
    kept["pledges"] = [r for r in snapshot["pledges"] if r[0] not in pledge_ids]
    kept["emails"] = [r for r in snapshot["emails"] if r[email_pledge] not in pledge_ids]
    return kept


async def test_erasure_withdraws_and_anonymises_every_pledge_of_the_address(
    store: Store,
) -> None:
    fibre = await make_campaign(store, target=10)
    bins = await make_campaign(store, target=10, category="waste")
    buses = await make_campaign(store, target=10, category="transport")
    for i in (1, 2):
        await make_confirmed_pledge(store, fibre.slug, i)
    await make_pending_pledges(store, bins.slug, 2, start=1)
    # One mailbox, three spellings: gmail ignores dots and +tags, googlemail is gmail.
    counted_one = await pledge_as(
        store, fibre.slug, "Jo.Smith+fibre@gmail.com", confirm=True, show_name=True
    )
    pending_one = await pledge_as(
        store, bins.slug, "jo.smith@googlemail.com", confirm=False, share_contact=True
    )
    withdrawn_one = await pledge_as(store, buses.slug, "JoSmith@gmail.com", confirm=True)
    await withdraw_pledge(store, withdrawn_one)
    await send_queued_mail(store)  # the confirmation emails are sent and kept
    mine = {counted_one, pending_one, withdrawn_one}
    before = await table_snapshot(store)
    assert await confirmed_count(store, fibre) == 3

    erased = await erase_resident(store, JO, scrub_mail=scrub_pledge_mail)

    assert erased == 3
    assert await confirmed_count(store, fibre) == 2 == await counted(store, fibre.id)
    assert await confirmed_count(store, bins) == 0 == await counted(store, bins.id)
    assert await confirmed_count(store, buses) == 0 == await counted(store, buses.id)
    rows = {
        r["id"]: r
        for r in await store.database.fetch_all(sa.select(pledges).where(pledges.c.id.in_(mine)))
    }
    for pledge_id, row in rows.items():
        assert row["status"] == "withdrawn"
        assert row["name"] == ""
        assert row["email"] == f"erased-{pledge_id}@invalid"
        assert row["email_canonical"] == f"erased:{pledge_id}"
        assert row["postcode"] == row["district"] == "LS6"
        assert row["ip"] is None
        assert row["show_name"] is False and row["share_contact"] is False
        assert row["anonymised_at"] is not None
    assert await resident_pledges(store.database, JO) == []
    # The emails about those pledges keep their row but not the address, subject or text.
    sent = await store.database.fetch_all(sa.select(emails).where(emails.c.pledge_id.in_(mine)))
    assert len(sent) == 3
    for row in sent:
        assert row["sent_at"] is not None
        blanked = (row["to_address"], row["subject"], row["text_body"], row["html_body"])
        assert blanked == ("", "", "", "")
    # Nobody else's pledge, email or link changed.
    assert without(await table_snapshot(store), mine) == without(before, mine)
    assert JO not in {
        r["email_canonical"] for r in await store.database.fetch_all(sa.select(pledges))
    }


async def test_erasure_records_withdrawals_and_erasures_with_no_personal_data(
    store: Store,
) -> None:
    campaign = await make_campaign(store, target=10)
    counted_one = await pledge_as(store, campaign.slug, "jo.smith@gmail.com", confirm=True)
    last_event = await store.database.fetch_val(sa.select(sa.func.max(events.c.id)))

    await erase_resident(store, JO, scrub_mail=scrub_pledge_mail)

    new = await store.database.fetch_all(
        sa.select(events).where(events.c.id > last_event).order_by(events.c.id)
    )
    assert [(e["type"], json.loads(e["payload"])) for e in new] == [
        ("pledge.withdrawn", {"pledge_id": counted_one, "was_confirmed": True}),
        ("pledge.erased", {"pledge_id": counted_one}),
    ]
    assert all(e["campaign_id"] == campaign.id for e in new)


async def test_erasing_on_a_tipped_campaign_keeps_it_tipped_and_lowers_the_count(
    store: Store,
) -> None:
    campaign = await make_campaign(store, target=2)
    await make_confirmed_pledge(store, campaign.slug, 1)
    await pledge_as(store, campaign.slug, "jo.smith@gmail.com", confirm=True)
    tipped = await get_campaign(store.database, campaign.slug)
    assert (tipped.status, tipped.confirmed) == ("tipped", 2)

    assert await erase_resident(store, JO, scrub_mail=scrub_pledge_mail) == 1

    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.confirmed, after.tipped_at) == ("tipped", 1, tipped.tipped_at)
    assert await counted(store, campaign.id) == 1


async def test_erasing_twice_is_harmless(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    await make_confirmed_pledge(store, campaign.slug, 1)
    await pledge_as(store, campaign.slug, "jo.smith@gmail.com", confirm=True)
    assert await erase_resident(store, JO, scrub_mail=scrub_pledge_mail) == 1
    before = await table_snapshot(store)

    assert await erase_resident(store, JO, scrub_mail=scrub_pledge_mail) == 0

    assert await table_snapshot(store) == before
    assert await confirmed_count(store, campaign) == 1


async def test_an_address_with_no_pledges_erases_nothing(store: Store) -> None:
    campaign = await make_campaign(store)
    await make_confirmed_pledge(store, campaign.slug, 1)
    before = await table_snapshot(store)

    assert await erase_resident(store, "nobody@example.org", scrub_mail=scrub_pledge_mail) == 0

    assert await table_snapshot(store) == before


async def test_an_invalidated_pledge_is_anonymised_and_stays_uncounted(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    await make_confirmed_pledge(store, campaign.slug, 1)
    pledge_id = await pledge_as(store, campaign.slug, "jo.smith@gmail.com", confirm=False)
    # As an administrator's invalidation leaves it: struck out, never counted.
    await store.database.execute(
        sa.update(pledges)
        .where(pledges.c.id == pledge_id)
        .values(status="invalid", invalidated_at=utcnow())
    )

    assert await erase_resident(store, JO, scrub_mail=scrub_pledge_mail) == 1

    row = await store.database.fetch_one(sa.select(pledges).where(pledges.c.id == pledge_id))
    assert row is not None
    assert (row["status"], row["name"], row["email"]) == (
        "invalid",
        "",
        f"erased-{pledge_id}@invalid",
    )
    assert await confirmed_count(store, campaign) == 1


async def test_emails_not_yet_sent_are_cancelled(store: Store) -> None:
    campaign = await make_campaign(store)
    other = (await make_pending_pledges(store, campaign.slug, 1, start=1))[0]
    mine = await pledge_as(store, campaign.slug, "jo.smith@gmail.com", confirm=False)
    await dispatch_events(store)  # both confirmation emails are queued, neither sent
    queued = await store.database.fetch_all(sa.select(emails.c.pledge_id, emails.c.status))
    assert sorted((r["pledge_id"], r["status"]) for r in queued) == [
        (other, "queued"),
        (mine, "queued"),
    ]

    await erase_resident(store, JO, scrub_mail=scrub_pledge_mail)

    left = await store.database.fetch_all(sa.select(emails.c.pledge_id, emails.c.to_address))
    assert [(r["pledge_id"], r["to_address"]) for r in left] == [(other, "resident1@example.org")]


async def test_sign_in_links_and_emails_for_the_address_go_too(store: Store) -> None:
    campaign = await make_campaign(store)
    await pledge_as(store, campaign.slug, "jo.smith@gmail.com", confirm=False)
    await make_pending_pledges(store, campaign.slug, 1, start=1)
    signer = Signer(TEST_SECRET)
    async with store.write() as db:
        for address in ("Jo.Smith+me@googlemail.com", "resident1@example.org"):
            await issue_link(store, db, signer, "resident", address)
            await db.execute(
                sa.insert(emails).values(
                    dedupe_key=f"sign-in:resident:{address}",
                    kind="sign_in_resident",
                    to_address=address,
                    status="stored",
                    attempts=1,
                    next_attempt_at=utcnow(),
                    created_at=utcnow(),
                    sent_at=utcnow(),
                    subject="Your pledges on Groundswell",
                    text_body=f"Hello {address}",
                    html_body=f"<p>Hello {address}</p>",
                )
            )

    await erase_resident(store, JO, scrub_mail=scrub_pledge_mail)

    links = await store.database.fetch_all(sa.select(magic_links.c.email))
    assert [r["email"] for r in links] == ["resident1@example.org"]
    sign_ins = await store.database.fetch_all(
        sa.select(emails.c.to_address, emails.c.text_body)
        .where(emails.c.kind == "sign_in_resident")
        .order_by(emails.c.id)
    )
    assert [(r["to_address"], r["text_body"]) for r in sign_ins] == [
        ("", ""),
        ("resident1@example.org", "Hello resident1@example.org"),
    ]


@pytest.mark.parametrize("target", [1000, 3], ids=["below-target", "tipping"])
async def test_concurrent_erasure_and_confirmations_keep_counts_exact(
    store: Store, target: int
) -> None:
    races = [await make_campaign(store, target=target) for _ in range(3)]
    for round_ in range(4):
        address = f"erase.me.{round_}@example.org"
        pending: list[int] = []
        mine: list[int] = []
        for campaign in races:
            pending += await make_pending_pledges(store, campaign.slug, 3, start=10 * round_)
            outcome = await record_pledge(
                store, campaign.slug, parse_pledge(pledge_data(0, email=address))
            )
            mine.append(outcome.pledge_id)
        confirmations = [confirm_pledge(store, p) for p in pending + mine]
        middle = len(confirmations) // 2

        results = await asyncio.gather(
            *confirmations[:middle],
            erase_resident(store, canonical_email(address), scrub_mail=scrub_pledge_mail),
            *confirmations[middle:],
            return_exceptions=True,
        )

        for result in results:
            # Only a confirmation that came after the erasure fails, and it says why.
            assert not isinstance(result, BaseException) or isinstance(result, PledgeWithdrawn)
        assert results[middle] == len(races)
        statuses = await store.database.fetch_all(
            sa.select(pledges.c.status, pledges.c.anonymised_at).where(pledges.c.id.in_(mine))
        )
        assert all(r["status"] == "withdrawn" and r["anonymised_at"] for r in statuses)
    for campaign in races:
        count = await store.database.fetch_val(
            sa.select(campaigns.c.confirmed_count).where(campaigns.c.id == campaign.id)
        )
        assert count == await counted(store, campaign.id) == 3 * 4
