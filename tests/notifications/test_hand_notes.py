"""The "to tell by hand" list: what Groundswell would email a resident who pledged without
an email address reaches their lead's list instead, exactly once, through a real SMTP
server that receives nothing for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.datastructures import Secret

from notifications.hand_notes import mark_told, untold_count, untold_notes
from notifications.outbox import dispatch_events
from notifications.tables import emails, hand_notes
from pledges.accounts import Lead
from pledges.campaigns import Campaign, cancel_campaign, get_campaign
from pledges.pledging import parse_vouched_pledge, record_vouched_pledge
from pledges.store import Store
from pledges.updates import parse_update, post_update
from tests.conftest import make_settings
from tests.factories import make_campaign, make_confirmed_pledge, make_lead
from tests.notifications.conftest import SmtpServer
from tests.notifications.test_email import Running, drain, running


@pytest.fixture
async def mailing(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[Running]:
    settings = make_settings(database_url, smtp_url=Secret(smtp_server.url))
    async with running(settings) as r:
        yield r


def neighbour(i: int = 0, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"Neighbour {i}",
        "postcode": "LS6 1AB",
        "address_line": f"{10 + i} Brudenell Road",
        "phone": "0113 496 0000",
        "attested": True,
    }
    data.update(overrides)
    return data


async def by_hand(store: Store, campaign: Campaign, lead: Lead, i: int = 0) -> int:
    outcome = await record_vouched_pledge(
        store, campaign.slug, lead.id, parse_vouched_pledge(neighbour(i))
    )
    return outcome.pledge_id


async def notes(store: Store) -> list[Any]:
    return list(await store.database.fetch_all(sa.select(hand_notes).order_by(hand_notes.c.id)))


@pytest.mark.parametrize("counts", ["people", "households"])
async def test_tipping_puts_the_neighbour_on_the_list_once_and_emails_the_others(
    mailing: Running, smtp_server: SmtpServer, counts: str
) -> None:
    store = mailing.store
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=3, counts=counts)
    line = {"address_line": "1 Manor Drive"} if counts == "households" else {}
    await make_confirmed_pledge(store, campaign.slug, 1, **line)
    neighbour_id = await by_hand(store, campaign, lead)
    line = {"address_line": "3 Manor Drive"} if counts == "households" else {}
    await make_confirmed_pledge(store, campaign.slug, 2, **line)  # the third: it tips
    assert (await get_campaign(store.database, campaign.slug)).status == "tipped"

    await drain(mailing.worker)
    await drain(mailing.worker)
    assert await dispatch_events(store) == 0  # nothing left to dispatch twice

    tipped = [m for m in smtp_server.messages if str(m["Subject"]).startswith("It tipped!")]
    assert sorted(m["To"] for m in tipped) == ["resident1@example.org", "resident2@example.org"]
    outbox = await store.database.fetch_all(sa.select(emails.c.pledge_id, emails.c.to_address))
    assert neighbour_id not in {r["pledge_id"] for r in outbox}
    assert all(r["to_address"] for r in outbox)

    [note] = await notes(store)
    assert (note["kind"], note["pledge_id"], note["told_at"]) == ("tipped", neighbour_id, None)
    [shown] = await untold_notes(store.database, campaign.id)
    assert shown.subject == f"It tipped! {campaign.title} reached its target"
    assert campaign.title in shown.body and "being told now" in shown.body
    assert "http" not in shown.body  # nothing to click on a doorstep
    assert (shown.name, shown.address_line, shown.postcode, shown.phone) == (
        "Neighbour 0",
        "10 Brudenell Road",
        "LS6 1AB",
        "0113 496 0000",
    )


async def test_a_leads_update_lands_on_the_list_too(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store = mailing.store
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=10)
    await make_confirmed_pledge(store, campaign.slug, 1)
    neighbour_id = await by_hand(store, campaign, lead)
    update = parse_update({"title": "Halfway there", "body": "Thank you all.\n\nKeep going."})
    await post_update(store, campaign.slug, lead.id, update)

    await drain(mailing.worker)

    [email] = [m for m in smtp_server.messages if "Halfway there" in str(m["Subject"])]
    assert email["To"] == "resident1@example.org"
    [note] = await untold_notes(store.database, campaign.id)
    assert (note.kind, note.pledge_id) == ("update", neighbour_id)
    assert note.subject == f"{campaign.title}: Halfway there"
    assert "Thank you all." in note.body and "Keep going." in note.body


async def test_a_cancelled_campaign_is_on_the_list(mailing: Running) -> None:
    store = mailing.store
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=10)
    await by_hand(store, campaign, lead)
    await cancel_campaign(store, campaign.slug, lead.id)
    await drain(mailing.worker)
    [note] = await untold_notes(store.database, campaign.id)
    assert note.kind == "cancelled" and "cancelled" in note.body


async def test_marking_told_takes_a_note_off_the_list_once(mailing: Running) -> None:
    store = mailing.store
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=10)
    other = await make_campaign(store, lead, target=10)
    for i in range(2):
        await by_hand(store, campaign, lead, i)
    await by_hand(store, other, lead, 5)
    for c in (campaign, other):
        await post_update(store, c.slug, lead.id, parse_update({"title": "News", "body": "Hi."}))
    await drain(mailing.worker)
    first, second = await untold_notes(store.database, campaign.id)
    [elsewhere] = await untold_notes(store.database, other.id)

    # Another campaign's note is not this campaign's to mark.
    assert await mark_told(store, campaign.id, [first.id, elsewhere.id]) == [first.id]
    assert await mark_told(store, campaign.id, [first.id]) == []  # once
    assert [n.id for n in await untold_notes(store.database, campaign.id)] == [second.id]
    assert await untold_count(store.database, campaign.id) == 1
    assert await untold_count(store.database, other.id) == 1
