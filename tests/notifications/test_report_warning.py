"""Reports through a real SMTP server: an administrator's warning reaches the campaign's lead
as written (and never names the reporter); a reporter who gave an address can sign in to
"my pledges" without a pledge, download the report and erase it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from starlette.datastructures import Secret

from pledges.store import Store
from pledges.tables import report_actions, reports
from tests.app.pages import test_my_pledges as me
from tests.app.pages.test_administrators import ADMIN, session_csrf, sign_in
from tests.app.pages.test_reports import send_report
from tests.app.pages.test_residents import page_of
from tests.conftest import make_settings
from tests.factories import make_campaign, make_lead
from tests.notifications.conftest import SmtpServer
from tests.notifications.test_email import Running, body, drain, running, sent_to

REPORTER = "Reporter.Person@example.org"
MESSAGE = "Please take down the photo of 12 Brudenell Road.\n\nIt shows <b>a neighbour's</b> car."


@pytest.fixture
async def mailing(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[Running]:
    settings = make_settings(database_url, smtp_url=Secret(smtp_server.url), admin_emails=ADMIN)
    async with running(settings) as r:
        yield r


async def report_as_resident(live: Running, slug: str) -> int:
    answer = await send_report(
        live.client, slug, reason="personal_details", details="A photo of a house.", email=REPORTER
    )
    assert answer.status_code == 303
    found = await live.store.database.fetch_val(sa.select(sa.func.max(reports.c.id)))
    assert found is not None
    return int(found)


async def test_warning_the_lead_sends_the_administrators_words_by_email(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store: Store = mailing.store
    lead, _ = await make_lead(store, "lead.person@example.org")
    campaign = await make_campaign(store, lead, title="Fibre for Brudenell")
    report_id = await report_as_resident(mailing, campaign.slug)

    admin = mailing.client
    await sign_in(admin, store, ADMIN)
    answer = await admin.post(
        f"/admin/reports/{report_id}/warn",
        data={"csrf_token": await session_csrf(admin), "message": MESSAGE},
    )
    assert answer.status_code == 303
    assert sent_to(smtp_server, "lead.person@example.org") == []  # the worker sends it

    await drain(mailing.worker)

    [message] = sent_to(smtp_server, "lead.person@example.org")
    assert message["Subject"] == "A message from Groundswell about Fibre for Brudenell"
    text, html = body(message, "plain").replace("\r\n", "\n"), body(message, "html")
    assert MESSAGE in text
    assert "http://testserver/c/" + campaign.slug in text
    assert "It shows &lt;b&gt;a neighbour&#39;s&lt;/b&gt; car." in html
    # The lead never learns who reported.
    for part in (text, html):
        assert REPORTER.lower() not in part.lower()
    # Exactly once: draining again sends nothing more.
    await drain(mailing.worker)
    assert len(sent_to(smtp_server, "lead.person@example.org")) == 1
    [action] = await store.database.fetch_all(sa.select(report_actions))
    assert (action["action"], action["admin_email"], action["message"]) == ("warn", ADMIN, MESSAGE)


async def test_a_reporter_downloads_and_erases_their_report(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store: Store = mailing.store
    campaign = await make_campaign(store, title="Fibre for Brudenell")
    report_id = await report_as_resident(mailing, campaign.slug)
    client = mailing.client

    # No pledge, but a report with the address: the sign-in link is sent.
    await me.sign_in(client, store, "reporter.person@example.org")
    mine_page = page_of(await client.get("/me"))
    assert "You have no pledges." in mine_page.words
    assert "You reported 1 campaign or update giving this address: “Fibre for Brudenell”" in (
        mine_page.words
    )
    download = await client.get("/me/data.json")
    assert download.status_code == 200
    data = json.loads(download.text)
    [mine] = data["reports"]
    assert mine["report_id"] == report_id
    assert mine["campaign"] == {"slug": campaign.slug, "title": "Fibre for Brudenell"}
    assert mine["reason"] == "It shares someone's personal details"
    assert mine["details"] == "A photo of a house."
    assert mine["email"] == REPORTER
    assert mine["ip_address"] == "127.0.0.1"
    assert mine["reported_at"] and mine["closed_at"] is None

    erase = await client.get("/me/erase")
    token = page_of(erase).form_fields("/me/erase")["csrf_token"]
    assert (await client.post("/me/erase", data={"csrf_token": token})).status_code == 200

    row = await store.database.fetch_one(sa.select(reports).where(reports.c.id == report_id))
    assert row is not None
    assert row["reporter_email"] is None and row["reporter_email_canonical"] is None
    assert row["ip"] is None and row["details"] == ""
    assert row["reason"] == "personal_details"  # the administrators still see why
    # Nothing left to sign in with: no link is sent now.
    before = len(await me.sign_in_emails(store))
    assert (await me.ask_for_link(client, REPORTER)).status_code == 200
    assert len(await me.sign_in_emails(store)) == before
