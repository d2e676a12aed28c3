"""End to end: a provider publishes a response to a tipped campaign through the API; its
receiver gets one signed campaign.responded, the confirmed pledgers who still want news get
it by email through a real SMTP server, the neighbour without email is on the lead's list,
and the campaign page and the public list show it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.datastructures import Secret

from notifications.tables import emails, hand_notes, webhook_deliveries
from pledges.accounts import create_organisation_api_key
from pledges.campaigns import get_campaign
from pledges.pledging import unsubscribe_pledge
from pledges.tables import responses
from tests.app.api.test_contract import DOCUMENT, _schema_validator
from tests.conftest import make_settings, wait_for
from tests.factories import make_campaign, make_confirmed_pledge, make_lead, make_pending_pledges
from tests.notifications.conftest import SmtpServer
from tests.notifications.test_email import Running, body, running, sent_to
from tests.notifications.test_hand_notes import by_hand
from tests.receiver import Receiver, run_receiver

TEXT = "We can survey the Brudenell streets in March.\n\nPrices <b>after</b> the survey & soon."


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with run_receiver(Receiver()) as r:
        yield r


@pytest.fixture
async def live(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[Running]:
    """The app with its worker running, mailing the test SMTP server."""
    settings = make_settings(
        database_url, smtp_url=Secret(smtp_server.url), webhook_allow_private_networks=True
    )
    async with running(settings, run_worker=True) as r:
        yield r


async def test_a_response_reaches_residents_receivers_and_the_campaign_page(
    live: Running, smtp_server: SmtpServer, receiver: Receiver
) -> None:
    store, client = live.store, live.client
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=3)
    await make_confirmed_pledge(store, campaign.slug, 0)
    unsubscribed = await make_confirmed_pledge(store, campaign.slug, 1)
    await unsubscribe_pledge(store, unsubscribed)
    await make_pending_pledges(store, campaign.slug, 1, start=2)  # never confirmed
    neighbour = await by_hand(store, campaign, lead)  # the third confirmed: it tips
    assert (await get_campaign(store.database, campaign.slug)).status == "tipped"

    _, org_key = await create_organisation_api_key(
        store, "ops@fibreco.example", "FibreCo", "provider"
    )
    org = {"Authorization": f"Bearer {org_key}"}
    created = await client.post(
        "/api/v1/webhook-endpoints",
        headers=org,
        json={
            "url": receiver.url,
            "event_types": ["campaign.responded"],
            "filters": {"categories": ["broadband"], "postcode_prefixes": ["LS"]},
        },
    )
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])

    published = await client.post(
        f"/api/v1/campaigns/{campaign.slug}/responses", headers=org, json={"body": TEXT}
    )
    assert published.status_code == 201, published.text
    answer = published.json()
    assert answer["id"].startswith("rsp_")
    assert answer["organisation"] == {"name": "FibreCo", "kind": "provider"}
    assert answer["body"] == TEXT

    # The receiver: one signed message, as the document's `webhooks` say.
    async def delivered() -> bool:
        return len(receiver.verified()) >= 1

    await wait_for(delivered)
    [message] = receiver.verified()
    assert message.verified["type"] == "campaign.responded"
    data = message.verified["data"]
    assert data["campaign"]["slug"] == campaign.slug
    assert data["campaign"]["url"] == f"http://testserver/c/{campaign.slug}"
    assert data["response"] == answer
    assert "@" not in message.body.decode()  # no personal data in the body
    schema = DOCUMENT["webhooks"]["campaign.responded"]["post"]["requestBody"]
    errors = list(
        _schema_validator(schema["content"]["application/json"]["schema"]).iter_errors(
            message.verified
        )
    )
    assert errors == []

    # Email: the confirmed pledger who still wants news, and nobody else.
    subject = f"{campaign.title}: a response from FibreCo"

    async def mailed() -> list[Any]:
        return sent_to(smtp_server, "resident0@example.org", subject)

    [mail] = await wait_for(mailed)
    text = body(mail, "plain").replace("\r\n", "\n")
    assert "FibreCo, a provider, has responded" in text
    assert "We can survey the Brudenell streets in March.\n\nPrices <b>after</b>" in text
    assert f"http://testserver/c/{campaign.slug}#responses" in text
    assert "/unsubscribe?token=" in text and mail["List-Unsubscribe"]
    html = body(mail, "html")
    assert "Prices &lt;b&gt;after&lt;/b&gt; the survey &amp; soon." in html
    queued = await store.database.fetch_all(
        sa.select(emails.c.to_address).where(emails.c.kind == "response")
    )
    assert [r["to_address"] for r in queued] == ["resident0@example.org"]

    # The neighbour without email: on the lead's list, with the words to pass on.
    async def noted() -> list[Any]:
        return list(
            await store.database.fetch_all(
                sa.select(hand_notes).where(hand_notes.c.kind == "response")
            )
        )

    [note] = await wait_for(noted)
    assert note["pledge_id"] == neighbour
    assert note["subject"] == subject
    assert "FibreCo, a provider, has responded" in note["body"]
    assert "Prices <b>after</b> the survey & soon." in note["body"]

    # Public: the list through the API and the campaign page, text escaped.
    listed = await client.get(f"/api/v1/campaigns/{campaign.slug}/responses")
    assert listed.status_code == 200
    assert listed.json() == {"campaign": campaign.slug, "responses": [answer]}
    page = await client.get(f"/c/{campaign.slug}")
    assert page.status_code == 200
    section = page.text.split('<h2 id="responses">Responses</h2>', 1)[1]
    assert "FibreCo" in section and "(provider)" in section
    assert "<p>We can survey the Brudenell streets in March.</p>" in section
    assert "Prices &lt;b&gt;after&lt;/b&gt; the survey &amp; soon." in section

    # One response, one message to the one endpoint.
    assert await store.database.fetch_val(sa.select(sa.func.count()).select_from(responses)) == 1
    deliveries = await store.database.fetch_val(
        sa.select(sa.func.count()).select_from(webhook_deliveries)
    )
    assert deliveries == 1
