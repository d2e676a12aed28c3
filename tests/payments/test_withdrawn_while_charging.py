"""A pledge withdrawn while it is being charged ends with the resident not paying: the
charge is stopped when the withdrawal comes before Stripe is asked, and refunded at once,
automatically, when it comes after; the resident is emailed about the refund."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.main import services_of
from app.settings import Settings
from gateways.stripe_gateway import ChargeResult, StripeGateway
from gateways.stripe_stand_in import FakeStripe
from notifications.messages import MessageRenderer
from notifications.outbox import dispatch_events
from notifications.tables import emails
from pledges.campaigns import Campaign, get_campaign
from pledges.journal import events_for_campaign
from pledges.payments import (
    CHARGE_LEASE,
    charge_due,
    payment_totals,
    refund_withdrawn,
    release_due,
    run_payments,
    settle_abandoned_charges,
)
from pledges.pledging import get_pledge, withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import pledges
from pledges.tokens import Signer
from tests.app.pages.test_residents import page_of, sign
from tests.conftest import TEST_SECRET
from tests.payments.conftest import DEPOSIT, make_money_campaign, make_money_pledge, money_settings


@pytest.fixture
def settings(database_url: str, fake_stripe: FakeStripe) -> Settings:
    return money_settings(database_url, fake_stripe)


@pytest.fixture
async def store(app: Starlette) -> Store:
    """The app's own store, so the test and the app share SQLite's single writer."""
    found: Store = services_of(app).store
    return found


async def _tipped(
    store: Store, fake: FakeStripe, gateway: StripeGateway
) -> tuple[Campaign, list[int]]:
    campaign = await make_money_campaign(store)
    ids = [await make_money_pledge(store, fake, gateway, campaign.slug, i) for i in range(3)]
    campaign = await get_campaign(store.database, campaign.slug)
    assert campaign.status == "tipped"
    return campaign, ids


def _intents_for(fake: FakeStripe, pledge_id: int) -> list[dict[str, Any]]:
    return [
        p
        for p in fake.of_kind("payment_intent")
        if p["metadata"].get("pledge_id") == str(pledge_id)
    ]


def _refunds_for(fake: FakeStripe, pledge_id: int) -> list[dict[str, Any]]:
    return [r for r in fake.of_kind("refund") if r["metadata"].get("pledge_id") == str(pledge_id)]


async def _outbox(store: Store, kind: str) -> list[Any]:
    while await dispatch_events(store):
        pass
    return list(
        await store.database.fetch_all(
            sa.select(emails).where(emails.c.kind == kind).order_by(emails.c.pledge_id)
        )
    )


async def _text_of(store: Store, row: Any) -> str:
    renderer = MessageRenderer(Signer(TEST_SECRET), "http://testserver", "gs@example.org")
    async with store.read() as db:
        rendered = await renderer.render(
            db, row["kind"], row["pledge_id"], event_id=row["event_id"]
        )
    return " ".join(rendered.text.split())


class _WithdrawnAsTheChargeIsSent:
    """The real gateway, except that the resident's withdrawal of one pledge lands just as
    its charge is on its way to Stripe: after every check before the call."""

    def __init__(self, gateway: StripeGateway, store: Store, pledge_id: int) -> None:
        self._gateway = gateway
        self._store = store
        self._pledge_id = pledge_id

    async def charge(self, **kwargs: Any) -> ChargeResult:
        if kwargs["pledge_id"] == self._pledge_id:
            await withdraw_pledge(self._store, self._pledge_id)
        return await self._gateway.charge(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)


async def test_a_withdrawal_landing_after_the_charge_was_sent_is_refunded_at_once_and_told(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    racing = ids[1]
    racy = cast(StripeGateway, _WithdrawnAsTheChargeIsSent(gateway, store, racing))

    await run_payments(store, racy)

    # Stripe took the money (the charge was already sent), and gave it all back.
    [intent] = _intents_for(fake_stripe, racing)
    assert intent["status"] == "succeeded"
    [refund] = _refunds_for(fake_stripe, racing)
    assert (refund["payment_intent"], refund["amount"]) == (intent["id"], DEPOSIT)
    pledge = await get_pledge(store.database, racing)
    assert (pledge.status, pledge.payment_status) == ("withdrawn", "refunded")
    # The others are paid as usual, and the campaign's totals say what happened.
    assert [(await get_pledge(store.database, i)).payment_status for i in ids] == [
        "paid",
        "refunded",
        "paid",
    ]
    found = await get_campaign(store.database, campaign.slug)
    assert (found.collected_amount, found.refunded_amount) == (3 * DEPOSIT, DEPOSIT)
    [refunded] = [
        e
        for e in await events_for_campaign(store.database, campaign.id)
        if e.type == "payment.refunded"
    ]
    assert refunded.payload["by"] == "withdrawal"
    assert refunded.payload["pledge_id"] == racing

    # Another pass refunds nothing more.
    await run_payments(store, racy)
    assert len(_refunds_for(fake_stripe, racing)) == 1

    # The resident is emailed that they were refunded, and gets no receipt.
    [told] = await _outbox(store, "refunded")
    assert told["pledge_id"] == racing
    assert told["to_address"] == pledge.email
    text = await _text_of(store, told)
    assert "You withdrew your pledge" in text
    assert "we refunded it in full at once" in text and "£20" in text
    receipts = await _outbox(store, "paid")
    assert sorted(r["pledge_id"] for r in receipts) == [ids[0], ids[2]]


async def test_a_withdrawal_landing_between_claim_and_charge_stops_the_charge(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    racing = ids[0]
    claim = store.claim
    withdrawn: list[int] = []

    async def claim_then_withdraw(*args: Any, **kwargs: Any) -> list[Any]:
        claimed = await claim(*args, **kwargs)
        if not withdrawn and any(getattr(job, "pledge_id", None) == racing for job in claimed):
            # The pledge is "charging" now, claimed by this pass: the resident withdraws.
            assert (await get_pledge(store.database, racing)).payment_status == "charging"
            await withdraw_pledge(store, racing)
            withdrawn.append(racing)
        return claimed

    monkeypatch.setattr(store, "claim", claim_then_withdraw)
    await run_payments(store, gateway)
    assert withdrawn == [racing]

    # Stripe was never asked to charge it, so nothing needs refunding.
    assert _intents_for(fake_stripe, racing) == []
    assert _refunds_for(fake_stripe, racing) == []
    # The next pass removes the saved card at Stripe, as for any pledge withdrawn uncharged.
    await run_payments(store, gateway)
    pledge = await get_pledge(store.database, racing)
    assert (pledge.status, pledge.payment_status) == ("withdrawn", "released")
    method = await store.database.fetch_val(
        sa.select(pledges.c.stripe_payment_method_id).where(pledges.c.id == racing)
    )
    assert fake_stripe.get("payment_method", method)["customer"] is None
    found = await get_campaign(store.database, campaign.slug)
    assert (found.collected_amount, found.refunded_amount) == (2 * DEPOSIT, 0)
    async with store.read() as db:
        totals = await payment_totals(db, campaign.id)
    assert totals["pledges"] == {"paid": 2}
    assert await _outbox(store, "refunded") == []


async def _withdraw_by_page(client: httpx.AsyncClient, app: Starlette, pledge_id: int) -> str:
    token = sign(app, pledge_id, "pledge-withdraw")
    asked = page_of(await client.get("/pledges/withdraw", params={"token": token}))
    done = await client.post("/pledges/withdraw", data=asked.form_fields("/pledges/withdraw"))
    assert done.status_code == 200
    return page_of(done).words


async def test_the_withdrawn_page_says_what_happens_to_the_money(
    client: httpx.AsyncClient,
    app: Starlette,
    store: Store,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
) -> None:
    _, ids = await _tipped(store, fake_stripe, gateway)
    # The worker has claimed the first pledge and is charging it as the resident withdraws.
    await store.database.execute(
        sa.update(pledges).where(pledges.c.id == ids[0]).values(payment_status="charging")
    )

    words = await _withdraw_by_page(client, app, ids[0])

    assert (
        "Your payment was being taken as you withdrew. If it had already gone through, we "
        "refund it in full at once, without you asking, and email you; otherwise nothing is "
        "charged."
    ) in words
    # Not charged yet: the card is not charged at all.
    words = await _withdraw_by_page(client, app, ids[1])
    assert "Nothing will be charged to your card for this pledge." in words
    assert "being taken" not in words


async def test_paying_on_an_open_checkout_after_withdrawing_is_refunded_and_said(
    client: httpx.AsyncClient,
    app: Starlette,
    store: Store,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
) -> None:
    campaign = await make_money_campaign(store)
    ids = [
        await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i, card=card)
        for i, card in enumerate(("visa", "declined", "visa"))
    ]
    await run_payments(store, gateway)
    asking = ids[1]
    assert (await get_pledge(store.database, asking)).payment_status == "action_required"
    token = sign(app, asking, "pledge-pay")
    pay = page_of(await client.get(f"/pay/{token}"))
    to_stripe = await client.post(f"/pay/{token}", data=pay.form_fields(f"/pay/{token}"))
    assert to_stripe.status_code == 303
    # The resident withdraws in another tab, then pays on the Checkout still open.
    await withdraw_pledge(store, asking)
    async with httpx.AsyncClient(trust_env=False) as browser:
        paid = await browser.post(to_stripe.headers["location"], data={"card": "visa"})
    back = paid.headers["location"].removeprefix("http://testserver")

    done = await client.get(back)

    assert done.status_code == 200
    assert "Your payment is being refunded" in page_of(done).words
    assert (await get_pledge(store.database, asking)).payment_status == "refund_due"
    await run_payments(store, gateway)
    assert (await get_pledge(store.database, asking)).payment_status == "refunded"
    [refund] = _refunds_for(fake_stripe, asking)
    assert refund["amount"] == DEPOSIT
    [told] = await _outbox(store, "refunded")
    assert told["pledge_id"] == asking
    assert "You withdrew your pledge" in await _text_of(store, told)


class _StopsAtTheCharge:
    """The real gateway, except that the worker stops at one pledge's charge: before
    asking Stripe, or after Stripe charged but before the answer is recorded."""

    def __init__(self, gateway: StripeGateway, pledge_id: int, *, charged: bool) -> None:
        self._gateway = gateway
        self._pledge_id = pledge_id
        self._charged = charged

    async def charge(self, **kwargs: Any) -> ChargeResult:
        if kwargs["pledge_id"] != self._pledge_id:
            return await self._gateway.charge(**kwargs)
        if self._charged:
            await self._gateway.charge(**kwargs)
        raise ConnectionError("the worker stopped here")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)


@pytest.mark.parametrize("charged", [True, False], ids=["charged", "not charged"])
async def test_a_pledge_withdrawn_while_a_stopped_worker_was_charging_it_is_settled(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway, charged: bool
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    stopped = ids[2]
    await charge_due(
        store, cast(StripeGateway, _StopsAtTheCharge(gateway, stopped, charged=charged))
    )
    assert (await get_pledge(store.database, stopped)).payment_status == "charging"
    await withdraw_pledge(store, stopped)
    # No other worker claims a withdrawn pledge again, lease or not: it would stay charging.
    later = utcnow() + CHARGE_LEASE + timedelta(seconds=1)
    assert await charge_due(store, gateway, now=later) == 0
    # While its lease runs, nothing is decided.
    assert await settle_abandoned_charges(store, gateway) == 0

    assert await settle_abandoned_charges(store, gateway, now=later) == 1
    await refund_withdrawn(store, gateway)
    await release_due(store, gateway)

    pledge = await get_pledge(store.database, stopped)
    found = await get_campaign(store.database, campaign.slug)
    if charged:
        # Stripe had taken the money: it is recorded, and given back at once.
        [intent] = _intents_for(fake_stripe, stopped)
        [refund] = _refunds_for(fake_stripe, stopped)
        assert refund["payment_intent"] == intent["id"]
        assert pledge.payment_status == "refunded"
        assert (found.collected_amount, found.refunded_amount) == (3 * DEPOSIT, DEPOSIT)
        [told] = await _outbox(store, "refunded")
        assert told["pledge_id"] == stopped
    else:
        # Nothing was charged, and nothing is charged to find out; the card is removed.
        assert _intents_for(fake_stripe, stopped) == []
        assert pledge.payment_status == "released"
        assert (found.collected_amount, found.refunded_amount) == (2 * DEPOSIT, 0)
        assert await _outbox(store, "refunded") == []
    assert await settle_abandoned_charges(store, gateway, now=later) == 0
