"""What leaves the building about review (MODERATION=pre): no webhook hears of a campaign
before it is approved, then "campaign.opened" goes out once; its lead is emailed the
approval, or the rejection with its reason and note (through a real SMTP server)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from starlette.datastructures import Secret

from pledges.review import REASONS_BY_CODE, approve_campaign, reject_campaign
from tests.conftest import make_settings
from tests.factories import make_campaign, make_lead
from tests.notifications.conftest import SmtpServer
from tests.notifications.test_email import Running, body, drain, running, sent_to
from tests.notifications.test_webhook_delivery import add_endpoint, make_org
from tests.receiver import Receiver, run_receiver

ADMIN = "admin@example.org"
LEAD = "lead@example.org"


@pytest.fixture
async def reviewing(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[Running]:
    """The app under MODERATION=pre, mailing through the test SMTP server, its webhooks
    allowed to reach receivers on 127.0.0.1; the test drives the worker."""
    settings = make_settings(
        database_url,
        smtp_url=Secret(smtp_server.url),
        moderation="pre",
        webhook_allow_private_networks=True,
    )
    async with running(settings) as r:
        yield r


async def published_by_api(r: Running, title: str) -> str:
    lead, key = await make_lead(r.store, LEAD)
    draft = await make_campaign(r.store, lead, draft=True, title=title)
    answer = await r.client.post(
        f"/api/v1/campaigns/{draft.slug}/publish", headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200 and answer.json()["status"] == "pending_review"
    return draft.slug


def event_types(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["type"] for r in receiver.requests]


async def test_no_webhook_hears_of_a_campaign_until_it_is_approved(
    reviewing: Running, smtp_server: SmtpServer
) -> None:
    async with run_receiver(Receiver()) as receiver:
        org = await make_org(reviewing.store)
        await add_endpoint(reviewing.store, org, receiver.url)  # no filters: every event
        slug = await published_by_api(reviewing, "Fibre for Kirkstall")
        await drain(reviewing.worker)
        assert receiver.requests == []
        assert sent_to(smtp_server, LEAD) == []  # nothing for the lead yet either

        await approve_campaign(reviewing.store, slug, ADMIN)
        await drain(reviewing.worker)
        assert event_types(receiver) == ["campaign.opened"]
        [opened] = receiver.requests
        assert json.loads(opened.body)["data"]["campaign"]["slug"] == slug

        # A rejected one never reaches them either.
        other = await published_by_api(reviewing, "Something else entirely")
        await reject_campaign(reviewing.store, other, ADMIN, "no_service", "")
        await drain(reviewing.worker)
        assert event_types(receiver) == ["campaign.opened"]


async def test_approval_emails_the_lead_a_link_to_the_open_campaign(
    reviewing: Running, smtp_server: SmtpServer
) -> None:
    slug = await published_by_api(reviewing, "Fibre for Kirkstall")
    await approve_campaign(reviewing.store, slug, ADMIN)
    await drain(reviewing.worker)
    [message] = sent_to(smtp_server, LEAD)
    assert message["Subject"] == "Approved: Fibre for Kirkstall"
    for part in (body(message, "plain"), body(message, "html")):
        assert f"http://testserver/c/{slug}" in part
        assert "open for pledges" in part
        assert ADMIN not in part  # which administrator decided is not the lead's to know


async def test_rejection_emails_the_lead_the_reason_and_the_note(
    reviewing: Running, smtp_server: SmtpServer
) -> None:
    slug = await published_by_api(reviewing, "Buses for Meanwood")
    await reject_campaign(
        reviewing.store, slug, ADMIN, "duplicate", "Join buses-for-ls6 instead, it is open."
    )
    await drain(reviewing.worker)
    [message] = sent_to(smtp_server, LEAD)
    assert message["Subject"] == "Not published: Buses for Meanwood"
    reason = REASONS_BY_CODE["duplicate"]
    for part in (body(message, "plain"), body(message, "html")):
        assert reason.title in part
        assert "Join buses-for-ls6 instead, it is open." in part
        assert f"http://testserver/lead/campaigns/{slug}" in part  # to edit and resubmit
        assert "http://testserver/moderation" in part
    # Draining again sends nothing twice.
    await drain(reviewing.worker)
    assert len(sent_to(smtp_server, LEAD)) == 1
