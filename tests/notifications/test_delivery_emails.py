"""A missed delivery date reaches, through a real SMTP server, each resident still waiting
for the provider their home chose: exactly once however often the worker runs, never those
who said the service reached them, chose another offer or none, withdrew or were erased;
one without email is on their lead's "to tell by hand" list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from starlette.datastructures import Secret

from notifications.hand_notes import untold_notes
from notifications.outbox import scrub_pledge_mail
from notifications.tables import emails
from pledges.delivery import (
    confirm_service,
    mark_missed_milestones,
    parse_milestone,
    record_milestone,
)
from pledges.erasure import erase_resident
from pledges.journal import events_for_campaign
from pledges.pledging import (
    parse_vouched_pledge,
    record_vouched_pledge,
    unsubscribe_pledge,
    withdraw_pledge,
)
from pledges.store import Store, utcnow
from pledges.tables import delivery_milestones
from tests.conftest import make_settings
from tests.factories import (
    Delivered,
    choose_offer,
    make_confirmed_pledge,
    make_delivered_campaign,
    make_lead,
)
from tests.notifications.conftest import SmtpServer
from tests.notifications.test_email import Running, body, drain, running

SUBJECT_END = ": a delivery date was missed"


@pytest.fixture
async def mailing(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[Running]:
    settings = make_settings(database_url, smtp_url=Secret(smtp_server.url))
    async with running(settings) as r:
        yield r


async def backdate(store: Store, public_id: str, days: int) -> None:
    """The milestone's date is `days` ago: as if that much time had passed."""
    day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    async with store.write() as db:
        await db.execute(
            sa.update(delivery_milestones)
            .where(delivery_milestones.c.public_id == public_id)
            .values(due_on=day)
        )


async def test_a_missed_date_is_emailed_once_to_each_resident_waiting(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store = mailing.store
    lead, _ = await make_lead(store)
    neighbour: list[int] = []

    async def more_choosers(delivered: Delivered) -> None:
        chose_rival = await make_confirmed_pledge(store, delivered.campaign.slug, 40)
        await choose_offer(store, chose_rival, delivered.rival_offer)
        # A neighbour recorded by the lead without email, whose home chose the provider.
        recorded = await record_vouched_pledge(
            store,
            delivered.campaign.slug,
            lead.id,
            parse_vouched_pledge(
                {"name": "Neighbour", "postcode": "LS6 1AB", "phone": "0113 496 0000",
                 "attested": True}
            ),
        )  # fmt: skip
        await choose_offer(store, recorded.pledge_id, delivered.offer)
        neighbour.append(recorded.pledge_id)

    delivered = await make_delivered_campaign(store, choosers=5, before_close=more_choosers)
    # Pledged as resident0 ... resident4@example.org, in this order.
    waiting, unsubscribed, served, withdrawn, _erased = delivered.choosers
    await unsubscribe_pledge(store, unsubscribed)
    await confirm_service(store, served)
    await withdraw_pledge(store, withdrawn)  # after the close: its choice stays counted
    await erase_resident(store, "resident4@example.org", scrub_mail=scrub_pledge_mail)
    milestone = await record_milestone(
        store,
        delivered.campaign,
        delivered.provider.id,
        parse_milestone(
            {"kind": "build", "title": "Dig the street", "due_on": utcnow().date().isoformat()}
        ),
    )
    await drain(mailing.worker)
    assert not [m for m in smtp_server.messages if str(m["Subject"]).endswith(SUBJECT_END)]

    await backdate(store, milestone.public_id, 1)
    await drain(mailing.worker)
    await drain(mailing.worker)
    assert await mark_missed_milestones(store) == 0  # the worker marked it already, once

    missed = [
        e
        for e in await events_for_campaign(store.database, delivered.campaign.id)
        if e.type == "delivery.milestone_missed"
    ]
    assert len(missed) == 1
    sent = [m for m in smtp_server.messages if str(m["Subject"]).endswith(SUBJECT_END)]
    # The one who unsubscribed from campaign news still hears of the provider they chose.
    assert sorted(m["To"] for m in sent) == ["resident0@example.org", "resident1@example.org"]
    message = sent[0]
    assert str(message["Subject"]) == f"{delivered.campaign.title}{SUBJECT_END}"
    assert "List-Unsubscribe" not in message
    text = body(message, "plain")
    assert "Dig the street" in text and delivered.provider.name in text
    assert f"http://testserver/c/{delivered.campaign.slug}#delivery" in text
    [served_link] = [w for w in text.split() if "/choices/served?token=" in w]
    token = parse_qs(urlsplit(served_link).query)["token"][0]
    assert mailing.services.signer.unsign(token, "offer-choice") in (waiting, unsubscribed)
    outbox = await store.database.fetch_all(
        sa.select(emails.c.pledge_id).where(emails.c.kind == "delivery_missed")
    )
    assert sorted(r["pledge_id"] for r in outbox) == sorted([waiting, unsubscribed])

    [note] = [
        n
        for n in await untold_notes(store.database, delivered.campaign.id)
        if n.kind == "delivery_missed"
    ]
    assert [note.pledge_id] == neighbour
    assert note.subject == f"{delivered.campaign.title}{SUBJECT_END}"
    assert "Dig the street" in note.body and delivered.provider.name in note.body
    assert "http" not in note.body
