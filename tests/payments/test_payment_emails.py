"""What residents of money campaigns are told by email: asked to save a card, asked to pay
after a failed charge (and reminded), told we gave up, sent a receipt, told of a refund,
and what the campaign news says about their card. Campaigns without money read as before.
"""

from __future__ import annotations

import html
import re
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import sqlalchemy as sa

from app.bootstrap import bootstrap
from app.main import create_app, services_of
from gateways.stripe_gateway import StripeGateway
from gateways.stripe_stand_in import FakeStripe
from notifications.messages import MessageRenderer, Rendered
from notifications.outbox import dispatch_events, scrub_pledge_mail
from notifications.tables import emails
from pledges.campaigns import Campaign, expire_due_campaigns, get_campaign
from pledges.erasure import erase_resident
from pledges.identity import canonical_email
from pledges.payments import refund_pledge, remind_and_give_up, run_payments
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge, unsubscribe_pledge
from pledges.store import Store, utcnow
from pledges.tokens import Signer
from tests.conftest import TEST_SECRET
from tests.factories import make_campaign, make_confirmed_pledge, pledge_data
from tests.payments.conftest import (
    DEPOSIT,
    make_money_campaign,
    make_money_pledge,
    money_settings,
    save_card,
)

BASE = "http://testserver"
PAY_LINK = re.compile(r"http://testserver/pay/[A-Za-z0-9_.\-]+")
CARD_LINK = re.compile(r"http://testserver/c/[a-z0-9-]+/card-cancelled\?token=[A-Za-z0-9_.\-]+")
WITHDRAW_LINK = re.compile(r"http://testserver/pledges/withdraw\?token=[A-Za-z0-9_.\-]+")
signer = Signer(TEST_SECRET)
renderer = MessageRenderer(signer, BASE, "groundswell@example.org")


async def _queued(store: Store, kind: str) -> list[Any]:
    while await dispatch_events(store):
        pass
    return list(
        await store.database.fetch_all(
            sa.select(emails).where(emails.c.kind == kind).order_by(emails.c.pledge_id)
        )
    )


async def _render(store: Store, row: Any) -> Rendered:
    async with store.read() as db:
        return await renderer.render(db, row["kind"], row["pledge_id"], event_id=row["event_id"])


def _hrefs(rendered: Rendered) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', rendered.html)]


def _today() -> str:
    now = utcnow()
    return f"{now.day} {now:%B %Y}"


async def _tipped(
    store: Store, fake: FakeStripe, gateway: StripeGateway, cards: tuple[str, ...]
) -> tuple[Campaign, list[int]]:
    campaign = await make_money_campaign(store, title="Fibre for Mill Lane")
    ids = [
        await make_money_pledge(store, fake, gateway, campaign.slug, i, card=card)
        for i, card in enumerate(cards)
    ]
    return await get_campaign(store.database, campaign.slug), ids


# ----- asked to pay, reminded, given up ---------------------------------------------------


async def test_a_declined_charge_asks_the_resident_to_pay_within_7_days(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    _, ids = await _tipped(store, fake_stripe, gateway, ("visa", "declined", "visa"))
    await run_payments(store, gateway)
    [row] = await _queued(store, "pay")
    assert (row["pledge_id"], row["to_address"]) == (ids[1], "resident1@example.org")
    assert row["dedupe_key"] == f"pay:{row['event_id']}"

    rendered = await _render(store, row)
    assert rendered.subject == "We could not take your £20 pledge to Fibre for Mill Lane"
    assert "your bank declined the payment" in rendered.text
    assert "within 7 days" in rendered.text
    pay_by = utcnow() + timedelta(days=7)
    assert f"(by {pay_by.day} {pay_by:%B %Y})" in rendered.text
    [link] = set(PAY_LINK.findall(rendered.text))
    assert link in _hrefs(rendered)
    assert signer.unsign(link.rsplit("/", 1)[1], "pledge-pay") == ids[1]
    # About their own money: no unsubscribe header; withdrawing is still offered.
    assert "List-Unsubscribe" not in rendered.headers
    assert WITHDRAW_LINK.search(rendered.text)


async def test_an_authentication_request_says_the_bank_wants_confirmation(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    _, ids = await _tipped(store, fake_stripe, gateway, ("authentication", "visa", "visa"))
    await run_payments(store, gateway)
    [row] = await _queued(store, "pay")
    assert row["pledge_id"] == ids[0]
    rendered = await _render(store, row)
    assert "your bank wants you to confirm the payment yourself" in rendered.text
    assert "your bank wants you to confirm the payment yourself" in rendered.html
    assert "declined" not in rendered.text


async def test_the_reminder_and_the_giving_up(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    _, ids = await _tipped(store, fake_stripe, gateway, ("visa", "visa", "declined"))
    await run_payments(store, gateway)
    await remind_and_give_up(store, utcnow() + timedelta(hours=49))
    [row] = await _queued(store, "pay_reminder")
    assert row["pledge_id"] == ids[2]
    rendered = await _render(store, row)
    assert rendered.subject == "Reminder: your £20 pledge to Fibre for Mill Lane is not paid yet"
    assert "2 days ago" in rendered.text and "5 days left" in rendered.text
    [link] = set(PAY_LINK.findall(rendered.text))
    assert signer.unsign(link.rsplit("/", 1)[1], "pledge-pay") == ids[2]

    await remind_and_give_up(store, utcnow() + timedelta(days=7, minutes=1))
    [row] = await _queued(store, "payment_failed")
    rendered = await _render(store, row)
    assert rendered.subject == "Your £20 pledge to Fibre for Mill Lane was not taken"
    assert "not paid within 7 days of our asking, so we have stopped trying" in rendered.text
    assert "Nothing was charged to your card." in rendered.text
    # Once given up, withdrawing would change nothing: no withdraw link.
    assert not WITHDRAW_LINK.search(rendered.text)
    assert "withdraw" not in rendered.html.lower()
    assert not PAY_LINK.search(rendered.text)


# ----- receipts and refunds ---------------------------------------------------------------


async def test_each_paid_pledge_gets_a_receipt(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(
        store,
        title="Fibre for Mill Lane",
        target=None,
        money={"currency": "gbp", "target": 3000, "min": 500, "max": 5000},
    )
    ids = [
        await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i, amount=amount)
        for i, amount in ((1, 1250), (2, 2000))
    ]
    await run_payments(store, gateway)
    rows = await _queued(store, "paid")
    assert [r["pledge_id"] for r in rows] == ids
    first = await _render(store, rows[0])
    assert first.subject == "Receipt: your £12.50 pledge to Fibre for Mill Lane"
    assert "Amount: £12.50" in first.text
    assert "Campaign: Fibre for Mill Lane (Headingley)" in first.text
    assert f"Date: {_today()}" in first.text
    assert "£12.50" in first.html and _today() in first.html
    assert not WITHDRAW_LINK.search(first.text)
    assert "Amount: £20" in (await _render(store, rows[1])).text

    # Dispatching again queues nothing more.
    assert len(await _queued(store, "paid")) == 2


async def test_a_refund_is_announced_with_its_amount(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    _, ids = await _tipped(store, fake_stripe, gateway, ("visa",) * 3)
    await run_payments(store, gateway)
    await refund_pledge(store, gateway, ids[0], by="lead")
    [row] = await _queued(store, "refunded")
    assert row["pledge_id"] == ids[0]
    rendered = await _render(store, row)
    assert rendered.subject == "Refunded: your £20 pledge to Fibre for Mill Lane"
    assert "We have refunded your pledge of £20" in rendered.text
    assert "5 to 10 days" in rendered.text and "5 to 10 days" in rendered.html


# ----- who gets them -----------------------------------------------------------------------


async def test_payment_emails_go_to_those_who_unsubscribed_from_news_but_not_to_the_erased(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway, ("visa", "declined", "visa", "visa"))
    await unsubscribe_pledge(store, ids[0])
    await unsubscribe_pledge(store, ids[1])
    await run_payments(store, gateway)
    await erase_resident(
        store, canonical_email("resident2@example.org"), scrub_mail=scrub_pledge_mail
    )
    # Campaign news: not to the two who unsubscribed, nor to the erased resident.
    assert [r["pledge_id"] for r in await _queued(store, "tipped")] == [ids[3]]
    # Their own money: to those who unsubscribed too, but nothing to the erased resident.
    assert [r["pledge_id"] for r in await _queued(store, "paid")] == [ids[0], ids[3]]
    assert [r["pledge_id"] for r in await _queued(store, "pay")] == [ids[1]]
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 3 * DEPOSIT  # the erased pledge was paid all the same


# ----- what campaign news says on a money campaign ----------------------------------------


async def test_tipping_says_each_pledges_own_amount_is_being_charged(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(
        store,
        target=2,
        title="Fibre for Mill Lane",
        money={"currency": "eur", "target": 3000, "min": 500, "max": 5000},
    )
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1, amount=1000)
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 2, amount=2550)
    rows = await _queued(store, "tipped")
    texts = [(await _render(store, r)).text for r in rows]
    assert "reached its target of 2 pledges and €30" in texts[0]
    assert "Your saved card is being charged your pledge of €10 now." in texts[0]
    assert "Your saved card is being charged your pledge of €25.50 now." in texts[1]
    assert "€25.50" in (await _render(store, rows[1])).html


async def test_expiry_of_a_money_only_campaign_says_how_much_it_reached(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(
        store,
        target=None,
        money={"currency": "usd", "target": 100_000, "deposit": 2500},
        deadline=(utcnow() + timedelta(hours=1)).isoformat(),
    )
    await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1)
    await expire_due_campaigns(store, now=campaign.deadline + timedelta(seconds=1))
    [row] = await _queued(store, "expired")
    rendered = await _render(store, row)
    assert "reached its deadline with $25 of the $1,000 it needed" in rendered.text
    assert "pledges" not in rendered.text.split("it needed")[0]
    assert "Nothing was charged for your pledge of $25." in rendered.text
    assert "Nothing was charged for your pledge of $25." in rendered.html


# ----- the confirmation email of a money pledge -------------------------------------------


async def test_confirmation_without_a_card_says_it_counts_once_the_card_is_saved(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store, title="Fibre for Mill Lane")
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    [row] = await _queued(store, "confirm")
    rendered = await _render(store, row)
    assert "Thank you for pledging £20" in rendered.text
    assert "counts only once you have confirmed it and saved your card" in rendered.text
    [card] = set(CARD_LINK.findall(rendered.text))
    assert card.startswith(f"{BASE}/c/{campaign.slug}/card-cancelled?token=")
    [token] = parse_qs(urlsplit(card).query)["token"]
    assert signer.unsign(token, "pledge-card") == outcome.pledge_id
    assert card in _hrefs(rendered) and "save your card" in rendered.html

    # Rendered after the card is saved (the resident came back from Checkout first).
    await save_card(fake_stripe, gateway, store, outcome.pledge_id)
    rendered = await _render(store, row)
    assert "Your card is saved." in rendered.text
    assert not CARD_LINK.search(rendered.text)
    assert "charged £20 only if the campaign reaches its target of 3 pledges and £60" in (
        rendered.text
    )


async def test_pledging_again_without_a_card_saved_offers_to_save_it(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    outcome = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    await confirm_pledge(store, outcome.pledge_id)  # the email is confirmed, no card yet
    await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    [row] = await _queued(store, "repeated")
    rendered = await _render(store, row)
    assert "counts once you have confirmed it and saved your card" in rendered.text
    [card] = CARD_LINK.findall(rendered.text)
    [token] = parse_qs(urlsplit(card).query)["token"]
    assert signer.unsign(token, "pledge-card") == outcome.pledge_id
    assert "/pledges/confirm?" not in rendered.text  # already done
    assert card in _hrefs(rendered)


# ----- campaigns without money read as before ----------------------------------------------


async def test_emails_of_campaigns_without_money_say_nothing_of_money(store: Store) -> None:
    campaign = await make_campaign(store, target=1)
    await make_confirmed_pledge(store, campaign.slug, 1)
    expected = {
        "confirm": "Your pledge counts once you confirm it. Open this link within 7 days:",
        "tipped": f'Good news: "{campaign.title}" has reached its target of 1 pledges.',
    }
    for kind, says in expected.items():
        [row] = await _queued(store, kind)
        rendered = await _render(store, row)
        assert says in rendered.text
        for word in ("£", "card", "charge", "pay"):
            assert word not in rendered.text.lower()
            assert word not in rendered.html.lower()


async def test_the_withdraw_link_of_campaign_news_text_is_on_a_line_of_its_own(
    store: Store,
) -> None:
    """It used to run into the next line ("...token=abcNo more news"), which broke it."""
    campaign = await make_campaign(store, target=1)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 1)
    [row] = await _queued(store, "tipped")
    rendered = await _render(store, row)
    [line] = [x for x in rendered.text.splitlines() if "withdraw?token=" in x]
    link = line.split(": ", 1)[1]
    assert WITHDRAW_LINK.fullmatch(link)
    [token] = parse_qs(urlsplit(link).query)["token"]
    assert signer.unsign(token, "pledge-withdraw") == pledge_id
    assert rendered.text.rstrip().splitlines()[-1].startswith("No more news about this campaign: ")


# ----- through the worker -------------------------------------------------------------------


async def test_the_worker_charges_and_sends_receipts_and_requests_to_pay(
    database_url: str, fake_stripe: FakeStripe
) -> None:
    """The worker as deployed (Stripe configured, no SMTP: the development mailbox)."""
    services = bootstrap(money_settings(database_url, fake_stripe))
    async with AsyncExitStack() as stack:
        await services.store.connect()
        stack.push_async_callback(services.store.disconnect)
        stack.push_async_callback(services.worker.aclose)
        store, gateway = services.store, services.payments
        assert gateway is not None
        campaign = await make_money_campaign(store)
        ids = [
            await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i, card=card)
            for i, card in enumerate(("visa", "visa", "declined"))
        ]
        for _ in range(20):
            if not await services.worker.run_once():
                break
        rows = await store.database.fetch_all(sa.select(emails).order_by(emails.c.id))
        sent = {(r["kind"], r["pledge_id"]): r for r in rows}
        assert {r["status"] for r in rows} == {"stored"}
        assert sorted(k for k, _ in sent) == sorted(
            ["confirm"] * 3 + ["tipped"] * 3 + ["paid"] * 2 + ["pay"]
        )
        assert ("paid", ids[0]) in sent and ("paid", ids[1]) in sent
        pay = sent[("pay", ids[2])]
        assert pay["subject"].startswith("We could not take your £20 pledge")
        [link] = PAY_LINK.findall(pay["text_body"])
        assert signer.unsign(link.rsplit("/", 1)[1], "pledge-pay") == ids[2]
        assert len(fake_stripe.charges()) == 2
        await confirm_pledge(store, ids[0])  # a late click changes nothing
        assert (await get_campaign(store.database, campaign.slug)).collected_amount == 4000


async def test_the_links_in_the_emails_open_their_pages(
    database_url: str, fake_stripe: FakeStripe
) -> None:
    """The pay link and the save-your-card link, followed as a resident would."""
    app = create_app(money_settings(database_url, fake_stripe))
    services = services_of(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            store, gateway = services.store, services.payments
            assert gateway is not None
            campaign = await make_money_campaign(store, title="Fibre for Mill Lane")
            ids = [
                await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i, card=card)
                for i, card in enumerate(("visa", "declined", "visa"))
            ]
            waiting = await record_pledge(store, campaign.slug, parse_pledge(pledge_data(9)))
            for _ in range(20):
                if not await services.worker.run_once():
                    break
            await services.worker.aclose()  # the test drove it; the pages do not need it
            rows = await store.database.fetch_all(sa.select(emails))
            [pay] = [r for r in rows if r["kind"] == "pay"]
            [confirm] = [
                r for r in rows if r["kind"] == "confirm" and r["pledge_id"] == waiting.pledge_id
            ]

            [link] = PAY_LINK.findall(pay["text_body"])
            page = await client.get(link.removeprefix(BASE))
            assert page.status_code == 200
            assert "Fibre for Mill Lane" in page.text and "£20" in page.text
            assert pay["pledge_id"] == ids[1]

            [link] = CARD_LINK.findall(confirm["text_body"])
            page = await client.get(link.removeprefix(BASE))
            assert page.status_code == 200
            assert "Fibre for Mill Lane" in page.text
