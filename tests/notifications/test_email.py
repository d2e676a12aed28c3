"""Email through a real SMTP server: confirmation links, repeats, campaign news, retries.

The worker is driven by hand (`drain`) except where the wake-up itself is under test.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import compat32
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.datastructures import Secret

from app.bootstrap import Services, bootstrap
from app.main import create_app, services_of
from app.settings import Settings
from notifications.mail import mailer_for
from notifications.tables import emails
from notifications.worker import Worker
from pledges.campaigns import cancel_campaign, get_campaign
from pledges.pledging import (
    confirm_pledge,
    get_pledge,
    parse_pledge,
    record_paper_pledge,
    record_pledge,
)
from pledges.store import Store, utcnow
from pledges.tables import campaigns
from tests.app.pages.confirming import press_confirm
from tests.conftest import make_settings, table_snapshot, wait_for
from tests.factories import make_campaign, make_lead, pledge_data
from tests.notifications.conftest import SMTP_PASSWORD, SmtpServer

CONFIRM_LINK = re.compile(r"http://testserver/pledges/confirm\?token=[A-Za-z0-9_.\-]+")


@dataclass
class Running:
    app: Starlette
    client: httpx.AsyncClient
    services: Services

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def worker(self) -> Worker:
        return self.services.worker


@asynccontextmanager
async def running(settings: Settings, *, run_worker: bool = False) -> AsyncIterator[Running]:
    """The app inside its lifespan, with a client that talks to it in-process."""
    app = create_app(settings, run_worker=run_worker)
    services = services_of(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield Running(app, c, services)
        finally:
            if not run_worker:  # a worker driven by the test is closed by the test
                await services.worker.aclose()


@pytest.fixture
async def mailing(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[Running]:
    """The app with SMTP_URL pointing at the test SMTP server; the test drives the worker."""
    settings = make_settings(database_url, smtp_url=Secret(smtp_server.url))
    async with running(settings) as r:
        yield r


async def drain(*workers: Worker) -> None:
    """Run the workers side by side until none of them finds anything to do."""
    for _ in range(50):
        done = await asyncio.gather(*(w.run_once() for w in workers))
        if not any(done):
            return
    raise AssertionError("the worker never ran out of work")


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    assert part.get_content_type() == f"text/{subtype}"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def confirm_links(message: EmailMessage) -> tuple[str, str]:
    """The confirmation link from the text part and from the HTML part."""
    [in_text] = set(CONFIRM_LINK.findall(body(message, "plain")))
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', body(message, "html"))]
    [in_html] = {h for h in hrefs if CONFIRM_LINK.fullmatch(h)}
    return in_text, in_html


def token_of(link: str) -> str:
    [token] = parse_qs(urlsplit(link).query)["token"]
    return token


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def sent_to(server: SmtpServer, address: str, subject_start: str = "") -> list[EmailMessage]:
    return [
        m
        for m in server.messages
        if m["To"] == address and str(m["Subject"]).startswith(subject_start)
    ]


async def outbox(store: Store) -> list[Any]:
    return list(await store.database.fetch_all(sa.select(emails).order_by(emails.c.id)))


async def set_deadline_in_the_past(store: Store, campaign_id: int) -> None:
    await store.database.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(deadline=utcnow() - timedelta(minutes=1))
    )


# Confirmation


async def test_an_api_pledge_gets_a_confirmation_email_whose_link_confirms_it(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    campaign = await make_campaign(mailing.store, target=5)
    response = await mailing.client.post(
        f"/api/v1/campaigns/{campaign.slug}/pledges",
        json=pledge_data(1, name="Jo Bloggs", email="Jo.Bloggs@example.org"),
    )
    assert response.status_code == 202
    assert smtp_server.messages == []  # nothing is sent inside the request

    await drain(mailing.worker)

    [message] = smtp_server.messages
    assert message["To"] == "Jo.Bloggs@example.org"
    assert message["From"] == mailing.services.settings.mail_from
    assert message["Subject"] == f"Confirm your pledge: {campaign.title}"
    assert message["Message-ID"] and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    assert "List-Unsubscribe" not in message  # a confirmation is not a newsletter
    text, page = body(message, "plain"), body(message, "html")
    assert "Hello Jo Bloggs" in text and campaign.title in text
    assert "Hello Jo Bloggs" in page and "<a href=" in page
    in_text, in_html = confirm_links(message)
    assert in_text == in_html

    # Opening the link, as a mail system checking links does, confirms nothing: it shows
    # the button that does.
    before = await table_snapshot(mailing.store)
    opened = await mailing.client.get(path_of(in_text))
    assert opened.status_code == 200 and "Confirm my pledge</button>" in opened.text
    assert await table_snapshot(mailing.store) == before
    answer = await press_confirm(mailing.client, in_text)
    assert answer.status_code == 200
    assert (await get_campaign(mailing.store.database, campaign.slug)).confirmed == 1
    # Using the link again does not count twice.
    again = await press_confirm(mailing.client, in_text)
    assert again.status_code == 200
    assert (await get_campaign(mailing.store.database, campaign.slug)).confirmed == 1

    [row] = await outbox(mailing.store)
    assert (row["kind"], row["status"], row["attempts"]) == ("confirm", "sent", 1)
    assert row["sent_at"] is not None and row["last_error"] is None
    # Confirming sends nothing more.
    await drain(mailing.worker)
    assert len(smtp_server.messages) == 1


async def test_a_domain_pledge_gets_a_link_signed_for_that_pledge(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    campaign = await make_campaign(mailing.store, target=5)
    outcome = await record_pledge(mailing.store, campaign.slug, parse_pledge(pledge_data(2)))
    await drain(mailing.worker)

    [message] = sent_to(smtp_server, "resident2@example.org", "Confirm your pledge")
    link, _ = confirm_links(message)
    assert mailing.services.signer.unsign(token_of(link), "pledge-confirm") == outcome.pledge_id

    response = await mailing.client.post("/api/v1/pledges/confirm", json={"token": token_of(link)})
    assert response.status_code == 200
    assert response.json()["progress"]["confirmed"] == 1
    assert (await get_pledge(mailing.store.database, outcome.pledge_id)).status == "confirmed"


async def test_the_withdraw_link_in_the_email_withdraws(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    campaign = await make_campaign(mailing.store, target=5)
    outcome = await record_pledge(mailing.store, campaign.slug, parse_pledge(pledge_data(3)))
    await drain(mailing.worker)
    [message] = smtp_server.messages
    [link] = set(
        re.findall(r"http://testserver/pledges/withdraw\?token=\S+", body(message, "plain"))
    )
    response = await mailing.client.post("/api/v1/pledges/withdraw", json={"token": token_of(link)})
    assert response.status_code == 200
    assert (await get_pledge(mailing.store.database, outcome.pledge_id)).status == "withdrawn"


# Repeats


async def test_a_repeated_pledge_gets_one_already_pledged_email_a_day(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    campaign = await make_campaign(mailing.store, target=5)
    address = "jo.bloggs@gmail.com"
    await record_pledge(mailing.store, campaign.slug, parse_pledge(pledge_data(1, email=address)))
    await drain(mailing.worker)
    assert len(sent_to(smtp_server, address, "Confirm your pledge")) == 1

    for typed in ("jobloggs@gmail.com", "Jo.Bloggs+again@googlemail.com", address):
        response = await mailing.client.post(
            f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1, email=typed)
        )
        assert response.status_code == 202
        await drain(mailing.worker)

    # The email goes to the address the pledge was made with, whatever was typed later.
    [repeat] = sent_to(smtp_server, address, "You have already pledged")
    assert repeat["Subject"] == f"You have already pledged: {campaign.title}"
    assert "not confirmed yet" in body(repeat, "plain")
    link, _ = confirm_links(repeat)  # a pending pledge can be confirmed from it
    assert (await press_confirm(mailing.client, link)).status_code == 200
    assert (await get_campaign(mailing.store.database, campaign.slug)).confirmed == 1
    assert len(smtp_server.messages) == 2
    assert [r["kind"] for r in await outbox(mailing.store)] == ["confirm", "repeated"]


# Campaign news


async def test_tipping_tells_each_confirmed_pledger_once(
    mailing: Running, smtp_server: SmtpServer
) -> None:
    store = mailing.store
    campaign = await make_campaign(store, target=3)
    ids = [
        (await record_pledge(store, campaign.slug, parse_pledge(pledge_data(i)))).pledge_id
        for i in range(4)
    ]
    # Resident 2 confirms, then asks for no more news with the one-click unsubscribe.
    await confirm_pledge(store, ids[2])
    unsubscribe = mailing.services.renderer.links_for(ids[2])["unsubscribe"]
    answer = await mailing.client.post(path_of(unsubscribe), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    await confirm_pledge(store, ids[0])
    await confirm_pledge(store, ids[1])  # the third: it tips; resident 3 stays pending
    assert (await get_campaign(store.database, campaign.slug)).status == "tipped"

    await drain(mailing.worker)
    await drain(mailing.worker)

    tipped = [m for m in smtp_server.messages if str(m["Subject"]).startswith("It tipped!")]
    assert sorted(m["To"] for m in tipped) == ["resident0@example.org", "resident1@example.org"]
    for message in tipped:
        assert message["Subject"] == f"It tipped! {campaign.title} reached its target"
        assert "reached its target of 3 pledges" in body(message, "plain")
        assert "reached its target" in body(message, "html")
        header = message["List-Unsubscribe"].strip()  # folding may put it on its own line
        assert re.fullmatch(r"<http://testserver/unsubscribe\?token=[A-Za-z0-9_.\-]+>", header)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent_to(smtp_server, "resident2@example.org", "It tipped!") == []
    assert sent_to(smtp_server, "resident3@example.org", "It tipped!") == []

    # The header's link is what a mail client POSTs to (RFC 8058), and it works.
    [first] = sent_to(smtp_server, "resident0@example.org", "It tipped!")
    link = first["List-Unsubscribe"].strip().strip("<>")
    assert mailing.services.signer.unsign(token_of(link), "unsubscribe") == ids[0]
    answer = await mailing.client.post(path_of(link), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert (await get_pledge(store.database, ids[0])).status == "confirmed"  # still counts
    unsubscribed = await store.database.fetch_val(
        sa.text("SELECT unsubscribed_at FROM pledges WHERE id = :id").bindparams(id=ids[0])
    )
    assert unsubscribed is not None


async def test_list_unsubscribe_survives_a_long_base_url(
    database_url: str, smtp_server: SmtpServer
) -> None:
    """Mail clients read the header's URL as is: it must not be folded into encoded-words."""
    settings = make_settings(
        database_url,
        smtp_url=Secret(smtp_server.url),
        base_url="https://pledges.leeds-community-broadband.example.org",
    )
    async with running(settings) as r:
        lead, _ = await make_lead(r.store)
        campaign = await make_campaign(r.store, lead, target=1)
        outcome = await record_paper_pledge(
            r.store, campaign.slug, lead.id, parse_pledge(pledge_data(1))
        )
        await drain(r.worker)
        [message] = smtp_server.messages
        # The link is signed at send time; its timestamp may differ from one made now by a
        # second, so check its form and that it carries this pledge.
        link = re.fullmatch(
            r"<(https://pledges\.leeds-community-broadband\.example\.org/unsubscribe"
            r"\?token=([A-Za-z0-9_.-]+))>",
            message["List-Unsubscribe"].strip(),
        )
        assert link, message["List-Unsubscribe"]
        expected = link.group(1)
        assert len(expected) > 78
        assert r.services.signer.unsign(link.group(2), "unsubscribe") == outcome.pledge_id
        # As a mail client sees it: unfolded, and not RFC 2047-encoded.
        [raw] = smtp_server.raw_messages
        on_the_wire = message_from_bytes(raw, policy=compat32)["List-Unsubscribe"]
        assert re.sub(r"\r?\n[ \t]+", " ", on_the_wire).strip() == f"<{expected}>"
        answer = await r.client.post(path_of(expected), data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200


async def test_expiry_sends_closed_emails(mailing: Running, smtp_server: SmtpServer) -> None:
    store = mailing.store
    campaign = await make_campaign(store, target=5)
    ids = [
        (await record_pledge(store, campaign.slug, parse_pledge(pledge_data(i)))).pledge_id
        for i in range(3)
    ]
    await confirm_pledge(store, ids[0])
    await confirm_pledge(store, ids[1])
    unsubscribe = mailing.services.renderer.links_for(ids[1])["unsubscribe"]
    assert (await mailing.client.post(path_of(unsubscribe))).status_code == 200
    await drain(mailing.worker)
    confirmations = len(smtp_server.messages)
    await set_deadline_in_the_past(store, campaign.id)

    await drain(mailing.worker)  # the worker expires the campaign and tells its pledgers

    assert (await get_campaign(store.database, campaign.slug)).status == "expired"
    news = smtp_server.messages[confirmations:]
    assert [m["To"] for m in news] == ["resident0@example.org"]
    [closed] = news
    assert closed["Subject"] == f"{campaign.title} closed without reaching its target"
    assert "with 2 of the 5 pledges it needed" in body(closed, "plain")
    assert closed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    await drain(mailing.worker)
    assert len(smtp_server.messages) == confirmations + 1


async def test_cancelling_sends_cancelled_emails(mailing: Running, smtp_server: SmtpServer) -> None:
    store = mailing.store
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=5)
    confirmed = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await record_pledge(store, campaign.slug, parse_pledge(pledge_data(2)))
    await confirm_pledge(store, confirmed.pledge_id)
    await cancel_campaign(store, campaign.slug, lead.id)
    await drain(mailing.worker)
    [cancelled] = [m for m in smtp_server.messages if "cancelled" in str(m["Subject"])]
    assert cancelled["To"] == "resident1@example.org"
    assert cancelled["Subject"] == f"{campaign.title} was cancelled"
    assert "List-Unsubscribe" in cancelled


# Exactly once


async def test_two_workers_send_each_message_exactly_once(
    database_url: str, smtp_server: SmtpServer
) -> None:
    settings = make_settings(database_url, smtp_url=Secret(smtp_server.url))
    async with AsyncExitStack() as stack:
        first = bootstrap(settings)
        await first.store.connect()
        stack.push_async_callback(first.store.disconnect)
        stack.push_async_callback(first.worker.aclose)
        store = first.store
        if store.is_sqlite:
            # SQLite is for one process: two workers there share its single writer.
            second = Worker(store, mailer_for(smtp_server.url), first.renderer)
        else:
            # PostgreSQL: as two worker processes, each with its own connections.
            other = bootstrap(settings)
            await other.store.connect()
            stack.push_async_callback(other.store.disconnect)
            second = other.worker
        stack.push_async_callback(second.aclose)
        campaign = await make_campaign(store, target=10)
        ids = [
            (await record_pledge(store, campaign.slug, parse_pledge(pledge_data(i)))).pledge_id
            for i in range(24)
        ]
        await drain(first.worker, second)
        for pledge_id in ids[:12]:
            await confirm_pledge(store, pledge_id)  # tips at the tenth
        await drain(first.worker, second)

        rows = await outbox(store)

    messages = smtp_server.messages
    confirm = [m for m in messages if str(m["Subject"]).startswith("Confirm your pledge")]
    tipped = [m for m in messages if str(m["Subject"]).startswith("It tipped!")]
    assert sorted(m["To"] for m in confirm) == sorted(f"resident{i}@example.org" for i in range(24))
    assert sorted(m["To"] for m in tipped) == sorted(f"resident{i}@example.org" for i in range(12))
    assert len(messages) == 36
    assert len({m["Message-ID"] for m in messages}) == 36
    assert len(rows) == 36
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}


# SMTP failures


async def test_a_message_waits_while_the_server_is_down_and_is_sent_when_it_is_up(
    database_url: str, stopped_smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = stopped_smtp_server
    settings = make_settings(database_url, smtp_url=Secret(server.url_with_credentials))
    caplog.set_level(logging.DEBUG)
    async with running(settings) as r:
        campaign = await make_campaign(r.store, target=5)
        await record_pledge(r.store, campaign.slug, parse_pledge(pledge_data(1)))

        await drain(r.worker)

        [row] = await outbox(r.store)
        assert (row["status"], row["attempts"]) == ("queued", 1)
        assert row["last_error"]
        assert row["next_attempt_at"] is not None and row["sent_at"] is None
        secrets = (SMTP_PASSWORD, quote(SMTP_PASSWORD, safe=""), server.url_with_credentials)
        for secret in secrets:
            assert secret not in row["last_error"]
            assert secret not in caplog.text
            for record in caplog.records:
                assert secret not in record.getMessage()
                assert secret not in str(record.args)
                assert secret not in (record.exc_text or "")
        assert any(record.name == "groundswell.mail" for record in caplog.records)

        # Not due yet: another pass sends nothing and does not count an attempt.
        server.start()
        await drain(r.worker)
        assert server.messages == []
        [row] = await outbox(r.store)
        assert (row["status"], row["attempts"]) == ("queued", 1)

        # Due now: sent, logging in with the credentials from SMTP_URL.
        await r.store.database.execute(
            sa.update(emails)
            .where(emails.c.id == row["id"])
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await drain(r.worker)

        [message] = server.messages
        assert message["To"] == "resident1@example.org"
        assert str(message["Subject"]).startswith("Confirm your pledge")
        assert server.collector.logins == ["groundswell-mailer"]
        [row] = await outbox(r.store)
        assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)


async def test_a_rejected_login_keeps_the_message_queued_without_the_password(
    database_url: str, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-Pa55word"
    url = f"smtp://groundswell-mailer:{wrong}@{smtp_server.host}:{smtp_server.port}"
    caplog.set_level(logging.DEBUG)
    async with running(make_settings(database_url, smtp_url=Secret(url))) as r:
        campaign = await make_campaign(r.store, target=5)
        await record_pledge(r.store, campaign.slug, parse_pledge(pledge_data(1)))
        await drain(r.worker)
        [row] = await outbox(r.store)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert "Authentication" in row["last_error"]
    assert wrong not in row["last_error"]
    assert wrong not in caplog.text
    assert smtp_server.messages == []


# Without SMTP


async def test_without_smtp_mail_is_stored_for_the_development_mailbox(
    database_url: str,
) -> None:
    settings = make_settings(database_url)
    assert settings.smtp_url is None
    async with running(settings) as r:
        campaign = await make_campaign(r.store, target=5)
        response = await r.client.post(
            f"/api/v1/campaigns/{campaign.slug}/pledges",
            json=pledge_data(1, name="Jo Bloggs", email="jo@example.org"),
        )
        assert response.status_code == 202
        await drain(r.worker)

        [row] = await outbox(r.store)
        assert (row["status"], row["kind"]) == ("stored", "confirm")
        assert row["sent_at"] is not None
        assert row["subject"] == f"Confirm your pledge: {campaign.title}"

        mailbox = await r.client.get("/dev/mail")
        assert mailbox.status_code == 200
        assert "jo@example.org" in mailbox.text
        assert html.escape(row["subject"]) in mailbox.text
        assert f'href="/dev/mail/{row["id"]}"' in mailbox.text

        shown = await r.client.get(f"/dev/mail/{row['id']}")
        assert shown.status_code == 200
        assert "Hello Jo Bloggs" in shown.text
        assert "Confirm my pledge" in shown.text  # the HTML part, rendered
        [link] = set(CONFIRM_LINK.findall(html.unescape(shown.text)))
        assert (await press_confirm(r.client, link)).status_code == 200
        assert (await get_campaign(r.store.database, campaign.slug)).confirmed == 1


async def test_the_development_mailbox_is_closed_outside_development(
    database_url: str,
) -> None:
    async with running(make_settings(database_url, debug=False)) as r:
        assert (await r.client.get("/dev/mail")).status_code == 404
        assert (await r.client.get("/dev/mail/1")).status_code == 404


# The in-process worker


async def test_a_commit_that_writes_events_wakes_the_worker(
    database_url: str, smtp_server: SmtpServer
) -> None:
    # Polling alone would take a minute: only the wake-up can beat the deadline.
    settings = make_settings(database_url, smtp_url=Secret(smtp_server.url), worker_poll_seconds=60)
    async with running(settings, run_worker=True) as r:
        campaign = await make_campaign(r.store, target=5)

        async def opened_and_idle() -> bool:
            rows = await r.store.database.fetch_all(sa.text("SELECT dispatched_at FROM events"))
            return bool(rows) and all(row[0] is not None for row in rows)

        await wait_for(opened_and_idle)  # the worker has handled the campaign.opened event

        response = await r.client.post(
            f"/api/v1/campaigns/{campaign.slug}/pledges", json=pledge_data(1)
        )
        assert response.status_code == 202

        async def confirmation() -> list[EmailMessage]:
            return sent_to(smtp_server, "resident1@example.org", "Confirm your pledge")

        [message] = await wait_for(confirmation, timeout=10)
        link, _ = confirm_links(message)
        assert (await press_confirm(r.client, link)).status_code == 200
        assert (await get_campaign(r.store.database, campaign.slug)).confirmed == 1
