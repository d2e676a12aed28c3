"""Charging on tipping: each counted pledge is charged once, whatever reruns, crashes and
races; nothing is charged when a campaign closes without tipping; failed charges ask the
resident to pay, remind them once and give up; refunds happen once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import pledges.payments
from gateways.stripe_gateway import ChargeResult, StripeGateway
from gateways.stripe_stand_in import FakeStripe
from notifications.messages import MessageRenderer
from notifications.outbox import dispatch_events, scrub_pledge_mail
from notifications.tables import emails
from pledges.campaigns import Campaign, cancel_campaign, expire_due_campaigns, get_campaign
from pledges.erasure import erase_resident
from pledges.identity import canonical_email
from pledges.journal import Event, events_for_campaign
from pledges.payments import (
    CHARGE_LEASE,
    PaymentNotPossible,
    charge_due,
    fund_finished,
    payment_totals,
    process_stripe_event,
    refund_pledge,
    remind_and_give_up,
    run_payments,
)
from pledges.pledging import get_pledge, withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import pledges as pledges_table
from pledges.tokens import Signer
from tests.conftest import TEST_SECRET
from tests.factories import make_lead
from tests.payments.conftest import DEPOSIT, make_money_campaign, make_money_pledge

LATER = CHARGE_LEASE + timedelta(seconds=1)  # the charging lease has run out


async def _tipped(
    store: Store, fake: FakeStripe, gateway: StripeGateway, cards: tuple[str, ...] = ("visa",) * 3
) -> tuple[Campaign, list[int]]:
    """A campaign of 3 households and £60 tipped by pledges with these test cards."""
    campaign = await make_money_campaign(store)
    ids = [
        await make_money_pledge(store, fake, gateway, campaign.slug, i, card=card)
        for i, card in enumerate(cards)
    ]
    campaign = await get_campaign(store.database, campaign.slug)
    assert campaign.status == "tipped"
    return campaign, ids


def _intents_for(fake: FakeStripe, pledge_id: int) -> list[dict[str, Any]]:
    return [
        p
        for p in fake.of_kind("payment_intent")
        if p["metadata"].get("pledge_id") == str(pledge_id)
    ]


async def _events(store: Store, campaign_id: int, event_type: str) -> list[Event]:
    return [
        e for e in await events_for_campaign(store.database, campaign_id) if e.type == event_type
    ]


async def _payment_status(store: Store, pledge_id: int) -> str | None:
    return (await get_pledge(store.database, pledge_id)).payment_status


async def _method_of(store: Store, pledge_id: int) -> str:
    return str(
        await store.database.fetch_val(
            sa.select(pledges_table.c.stripe_payment_method_id).where(
                pledges_table.c.id == pledge_id
            )
        )
    )


async def _outbox(store: Store, kind: str) -> list[Any]:
    while await dispatch_events(store):
        pass
    return list(
        await store.database.fetch_all(
            sa.select(emails).where(emails.c.kind == kind).order_by(emails.c.pledge_id)
        )
    )


def _renderer() -> MessageRenderer:
    return MessageRenderer(Signer(TEST_SECRET), "http://testserver", "groundswell@example.org")


async def _text_of(store: Store, row: Any) -> str:
    async with store.read() as db:
        rendered = await _renderer().render(
            db, row["kind"], row["pledge_id"], event_id=row["event_id"]
        )
    return rendered.text


# ----- each pledge is charged once ------------------------------------------------------


async def test_charging_twice_charges_each_pledge_once(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    assert await charge_due(store, gateway) == 3
    assert await charge_due(store, gateway) == 0
    await run_payments(store, gateway)
    # Even once the lease has run out: a paid pledge is never claimed again.
    assert await charge_due(store, gateway, now=utcnow() + LATER) == 0

    assert len(fake_stripe.charges()) == 3
    assert all(len(_intents_for(fake_stripe, i)) == 1 for i in ids)
    assert [await _payment_status(store, i) for i in ids] == ["paid"] * 3
    found = await get_campaign(store.database, campaign.slug)
    assert (found.pledged_amount, found.collected_amount) == (3 * DEPOSIT, 3 * DEPOSIT)
    assert len(await _events(store, campaign.id, "payment.succeeded")) == 3


async def test_two_charging_passes_at_once_charge_each_pledge_once(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(
        store, target=10, money={"currency": "gbp", "target": 10 * DEPOSIT, "deposit": DEPOSIT}
    )
    ids = [
        await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i) for i in range(10)
    ]
    claimed = await asyncio.gather(charge_due(store, gateway), charge_due(store, gateway))
    assert sum(claimed) == 10
    assert len(fake_stripe.charges()) == len(ids)
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 10 * DEPOSIT
    assert len(await _events(store, campaign.id, "payment.succeeded")) == 10


class CrashAfterCharging:
    """A gateway whose charge reaches Stripe, then dies before Groundswell hears back:
    the worker crashing between charging and recording."""

    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway
        self.charged: list[int] = []

    async def charge(self, **kwargs: Any) -> ChargeResult:
        await self.gateway.charge(**kwargs)
        self.charged.append(kwargs["pledge_id"])
        raise ConnectionResetError("the worker died here")


async def test_a_crash_between_charging_and_recording_charges_once_after_the_lease(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    crashing = CrashAfterCharging(gateway)
    assert await charge_due(store, crashing, now=utcnow()) == 3  # type: ignore[arg-type]
    assert sorted(crashing.charged) == ids
    assert len(fake_stripe.charges()) == 3  # Stripe took the money...
    assert [await _payment_status(store, i) for i in ids] == ["charging"] * 3  # ...unrecorded
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 0
    # Still charging: the campaign is not funded yet.
    assert await fund_finished(store) == []

    # While the lease holds, nobody charges them again.
    assert await charge_due(store, gateway) == 0
    # Once it has run out, the next pass charges with the same idempotency key: Stripe
    # answers with the first PaymentIntent and takes nothing more.
    assert await charge_due(store, gateway, now=utcnow() + LATER) == 3
    asked = [r for r in fake_stripe.requests if r[:2] == ("POST", "/v1/payment_intents")]
    assert len(asked) == 6  # each pledge charged twice at Stripe...
    assert len(fake_stripe.charges()) == 3  # ...and paid once
    assert all(len(_intents_for(fake_stripe, i)) == 1 for i in ids)
    assert [await _payment_status(store, i) for i in ids] == ["paid"] * 3
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 3 * DEPOSIT
    assert len(await _events(store, campaign.id, "payment.succeeded")) == 3
    assert await fund_finished(store) == [campaign.slug]


async def test_a_crash_while_recording_is_charged_once_after_the_lease(
    store: Store,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    real_record_paid = pledges.payments.record_paid
    failures = [ids[0]]

    async def record_paid_crashing_once(
        store: Store, pledge_id: int, payment_intent: str, amount: int
    ) -> bool:
        if pledge_id in failures:
            failures.remove(pledge_id)
            raise OSError("the database went away")
        return await real_record_paid(store, pledge_id, payment_intent, amount)

    monkeypatch.setattr(pledges.payments, "record_paid", record_paid_crashing_once)
    with pytest.raises(OSError):
        await charge_due(store, gateway)
    assert await _payment_status(store, ids[0]) == "charging"

    await charge_due(store, gateway, now=utcnow() + LATER)
    assert len(_intents_for(fake_stripe, ids[0])) == 1
    assert len(fake_stripe.charges()) == 3
    assert [await _payment_status(store, i) for i in ids] == ["paid"] * 3
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 3 * DEPOSIT


async def test_a_crash_then_stripes_event_records_it_and_the_rerun_charges_nothing(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    await charge_due(store, CrashAfterCharging(gateway))  # type: ignore[arg-type]
    succeeded = [e for e in fake_stripe.events if e["type"] == "payment_intent.succeeded"]
    assert len(succeeded) == 3
    for event in succeeded:
        assert await process_stripe_event(store, gateway, event) == "paid"
    assert [await _payment_status(store, i) for i in ids] == ["paid"] * 3

    assert await charge_due(store, gateway, now=utcnow() + LATER) == 0
    assert len(fake_stripe.charges()) == 3
    assert all(len(_intents_for(fake_stripe, i)) == 1 for i in ids)
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 3 * DEPOSIT
    assert len(await _events(store, campaign.id, "payment.succeeded")) == 3


# ----- closing without tipping charges nothing ------------------------------------------


async def _assert_released_and_told(
    store: Store,
    fake: FakeStripe,
    gateway: StripeGateway,
    campaign: Campaign,
    ids: list[int],
    kind: str,
) -> None:
    await run_payments(store, gateway)
    assert fake.charges() == []
    assert fake.of_kind("payment_intent") == []
    methods = fake.of_kind("payment_method")
    assert len(methods) == len(ids)
    assert all(m["customer"] is None for m in methods)
    assert [await _payment_status(store, i) for i in ids] == ["released"] * len(ids)
    found = await get_campaign(store.database, campaign.slug)
    assert found.collected_amount == 0

    rows = await _outbox(store, kind)
    assert [r["pledge_id"] for r in rows] == ids
    for row in rows:
        text = await _text_of(store, row)
        assert "Nothing was charged for your pledge of £20." in text
        assert "saved card is being removed" in text


async def test_an_expired_money_campaign_charges_nothing_and_releases_every_card(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(
        store, deadline=(utcnow() + timedelta(hours=1)).isoformat()
    )
    ids = [await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i) for i in (1, 2)]
    assert await expire_due_campaigns(store, now=campaign.deadline + timedelta(seconds=1)) == [
        campaign.slug
    ]
    await _assert_released_and_told(store, fake_stripe, gateway, campaign, ids, "expired")
    text = await _text_of(store, (await _outbox(store, "expired"))[0])
    assert "reached its deadline with 2 of the 3 pledges and £40 of the £60 it needed" in text


async def test_a_cancelled_money_campaign_charges_nothing_and_releases_every_card(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_money_campaign(store, lead)
    ids = [await make_money_pledge(store, fake_stripe, gateway, campaign.slug, i) for i in (1, 2)]
    await cancel_campaign(store, campaign.slug, lead.id)
    await _assert_released_and_told(store, fake_stripe, gateway, campaign, ids, "cancelled")


async def test_withdrawing_after_tipping_but_before_charging_charges_nothing(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    await withdraw_pledge(store, ids[1])
    await run_payments(store, gateway)
    assert len(fake_stripe.charges()) == 2
    assert _intents_for(fake_stripe, ids[1]) == []
    assert await _payment_status(store, ids[1]) == "released"
    detached = [m["id"] for m in fake_stripe.of_kind("payment_method") if m["customer"] is None]
    assert detached == [await _method_of(store, ids[1])]
    found = await get_campaign(store.database, campaign.slug)
    assert (found.status, found.collected_amount) == ("tipped", 2 * DEPOSIT)


# ----- failed charges -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "error", "says"),
    [
        ("declined", "card_declined", "your bank declined the payment"),
        (
            "authentication",
            "authentication_required",
            "your bank wants you to confirm the payment yourself",
        ),
    ],
)
async def test_a_failed_charge_asks_the_resident_to_pay_reminds_once_and_gives_up(
    store: Store,
    fake_stripe: FakeStripe,
    gateway: StripeGateway,
    card: str,
    error: str,
    says: str,
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway, ("visa", card, "visa"))
    await run_payments(store, gateway)
    failing = ids[1]
    assert await _payment_status(store, failing) == "action_required"
    assert len(fake_stripe.charges()) == 2
    [asked] = await _events(store, campaign.id, "payment.action_required")
    assert asked.payload == {"pledge_id": failing, "error": error}
    # Charging again changes nothing: the resident has to act.
    assert await charge_due(store, gateway, now=utcnow() + LATER) == 0
    assert await fund_finished(store) == []

    [row] = await _outbox(store, "pay")
    assert row["pledge_id"] == failing
    text = await _text_of(store, row)
    assert says in text and "within 7 days" in text
    [link] = [line for line in text.splitlines() if line.startswith("http://testserver/pay/")]
    token = link.removeprefix("http://testserver/pay/")
    assert Signer(TEST_SECRET).unsign(token, "pledge-pay") == failing

    # Nothing before 48 hours; one reminder after, however often the worker passes.
    assert await remind_and_give_up(store, utcnow() + timedelta(hours=47)) == 0
    assert await remind_and_give_up(store, utcnow() + timedelta(hours=49)) == 1
    assert await remind_and_give_up(store, utcnow() + timedelta(hours=50)) == 0
    assert len(await _events(store, campaign.id, "payment.reminder")) == 1
    [reminder] = await _outbox(store, "pay_reminder")
    assert "5 days left" in await _text_of(store, reminder)
    assert await fund_finished(store) == []

    # After 7 days it has failed; the campaign's charging is over.
    assert await remind_and_give_up(store, utcnow() + timedelta(days=7, minutes=1)) == 1
    assert await _payment_status(store, failing) == "failed"
    assert len(await _events(store, campaign.id, "payment.failed")) == 1
    [gave_up] = await _outbox(store, "payment_failed")
    assert "Nothing was charged" in await _text_of(store, gave_up)

    assert await fund_finished(store) == [campaign.slug]
    assert await fund_finished(store) == []
    [funded] = await _events(store, campaign.id, "campaign.funded")
    assert funded.payload["collected"] == 2 * DEPOSIT
    assert funded.payload["failed"] == DEPOSIT
    assert funded.payload["pledged"] == 3 * DEPOSIT
    assert funded.payload["pledges"] == {"failed": 1, "paid": 2}
    async with store.read() as db:
        assert await payment_totals(db, campaign.id) == {
            k: funded.payload[k]
            for k in ("currency", "pledged", "collected", "refunded", "failed", "pledges")
        }


async def test_a_withdrawn_pledge_that_failed_to_charge_is_not_reminded(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway, ("visa", "declined", "visa"))
    await run_payments(store, gateway)
    assert [r["pledge_id"] for r in await _outbox(store, "pay")] == [ids[1]]
    await withdraw_pledge(store, ids[1])
    assert await remind_and_give_up(store, utcnow() + timedelta(hours=49)) == 0
    assert await _events(store, campaign.id, "payment.reminder") == []
    # Nothing outstanding among the counted pledges: the campaign is funded.
    assert await fund_finished(store) == [campaign.slug]
    # After 7 days the pledge has failed, without telling the resident who withdrew.
    assert await remind_and_give_up(store, utcnow() + timedelta(days=7, minutes=1)) == 1
    assert await _payment_status(store, ids[1]) == "failed"
    assert await _outbox(store, "pay_reminder") == []
    assert await _outbox(store, "payment_failed") == []


# ----- refunds --------------------------------------------------------------------------


async def test_a_refund_happens_once_even_when_asked_twice(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign, ids = await _tipped(store, fake_stripe, gateway)
    await run_payments(store, gateway)
    assert await refund_pledge(store, gateway, ids[0], by="lead") == DEPOSIT
    with pytest.raises(PaymentNotPossible, match="already been refunded"):
        await refund_pledge(store, gateway, ids[0], by="lead")
    # Two clicks at once: Stripe is asked twice with one idempotency key.
    await asyncio.gather(
        refund_pledge(store, gateway, ids[1], by="lead"),
        refund_pledge(store, gateway, ids[1], by="admin"),
        return_exceptions=True,
    )
    refunds = fake_stripe.of_kind("refund")
    assert sorted(r["metadata"]["pledge_id"] for r in refunds) == sorted(map(str, ids[:2]))
    assert [await _payment_status(store, i) for i in ids] == ["refunded", "refunded", "paid"]
    found = await get_campaign(store.database, campaign.slug)
    assert (found.collected_amount, found.refunded_amount) == (3 * DEPOSIT, 2 * DEPOSIT)
    assert len(await _events(store, campaign.id, "payment.refunded")) == 2

    # Stripe's own event for the refund changes nothing more.
    for event in [e for e in fake_stripe.events if e["type"] == "refund.created"]:
        assert await process_stripe_event(store, gateway, event) == "already"
    found = await get_campaign(store.database, campaign.slug)
    assert found.refunded_amount == 2 * DEPOSIT

    texts = [await _text_of(store, r) for r in await _outbox(store, "refunded")]
    assert len(texts) == 2
    assert all("refunded your pledge of £20" in t and "5 to 10 days" in t for t in texts)


async def test_an_unpaid_pledge_cannot_be_refunded(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    pledge_id = await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 1)
    with pytest.raises(PaymentNotPossible, match="Only a paid pledge"):
        await refund_pledge(store, gateway, pledge_id, by="lead")
    assert fake_stripe.of_kind("refund") == []
    assert await _payment_status(store, pledge_id) == "card_saved"


# ----- erased and anonymised pledges: Stripe forgets the resident -------------------------


async def _customer_of(store: Store, pledge_id: int) -> Any:
    return await store.database.fetch_one(
        sa.select(
            pledges_table.c.stripe_customer_id,
            pledges_table.c.stripe_payment_method_id,
            pledges_table.c.stripe_payment_intent_id,
        ).where(pledges_table.c.id == pledge_id)
    )


async def test_erasing_a_paid_pledge_deletes_its_stripe_customer_and_keeps_the_payment(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    _, ids = await _tipped(store, fake_stripe, gateway)
    await run_payments(store, gateway)
    before = await _customer_of(store, ids[1])
    assert await _payment_status(store, ids[1]) == "paid"
    assert before["stripe_customer_id"] in fake_stripe.objects

    assert (
        await erase_resident(
            store, canonical_email("resident1@example.org"), scrub_mail=scrub_pledge_mail
        )
        == 1
    )
    assert await pledges.payments.forget_customers(store, gateway) == 1

    after = await _customer_of(store, ids[1])
    assert after["stripe_customer_id"] is None and after["stripe_payment_method_id"] is None
    assert after["stripe_payment_intent_id"] == before["stripe_payment_intent_id"]
    assert before["stripe_customer_id"] not in fake_stripe.objects  # deleted at Stripe
    # The other residents' customers stay; a second pass has nothing to do.
    others = [await _customer_of(store, i) for i in (ids[0], ids[2])]
    assert all(o["stripe_customer_id"] in fake_stripe.objects for o in others)
    assert await pledges.payments.forget_customers(store, gateway) == 0
    # The payment can still be refunded.
    assert await refund_pledge(store, gateway, ids[1], by="admin") == DEPOSIT


async def test_an_erased_pledge_with_a_saved_card_is_released_before_its_customer_goes(
    store: Store, fake_stripe: FakeStripe, gateway: StripeGateway
) -> None:
    campaign = await make_money_campaign(store)
    pledge_id = await make_money_pledge(store, fake_stripe, gateway, campaign.slug, 5)
    method = await _method_of(store, pledge_id)
    customer = (await _customer_of(store, pledge_id))["stripe_customer_id"]
    assert (
        await erase_resident(
            store, canonical_email("resident5@example.org"), scrub_mail=scrub_pledge_mail
        )
        == 1
    )

    # Not yet released: the customer stays until the card is detached.
    assert await pledges.payments.forget_customers(store, gateway) == 0
    await run_payments(store, gateway)
    assert await _payment_status(store, pledge_id) == "released"
    assert fake_stripe.objects[method]["customer"] is None
    assert customer not in fake_stripe.objects
    assert (await _customer_of(store, pledge_id))["stripe_customer_id"] is None
    assert fake_stripe.charges() == []
