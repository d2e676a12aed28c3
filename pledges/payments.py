"""Money pledges after the pledge form: saving the card, charging on tipping, asking the
resident to pay when a charge fails, releasing cards nobody will charge, refunds.

Every change of a pledge's `payment_status` is one guarded UPDATE (`WHERE payment_status
= <the state it leaves>`), so however the worker, a resident coming back from Checkout and
Stripe's webhooks race (twice, out of order), each step happens once. Money moves on the
campaign row only by `x = x + :d` in the same transaction as the pledge's step.

Calls to Stripe never happen inside a write transaction (they would hold SQLite's single
writer): a pledge is claimed under a lease, Stripe is called, the result is recorded. A
worker that dies between charging and recording leaves the lease to run out; the next
claim charges again with the same idempotency key, and Stripe answers with the first
charge instead of making a second. A `payment_intent.succeeded` event records it as well.

A resident may withdraw while their pledge is being charged. The charge step looks again
just before asking Stripe and hands a withdrawn pledge back uncharged (its card is then
released); a withdrawal that lands after the charge was sent makes the payment
`refund_due` when it is recorded, and the worker refunds it in full at once and emails
the resident.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from gateways.stripe_gateway import ChargeResult, StripeFailure, StripeGateway, pledge_id_of
from pledges.campaigns import get_campaign_by_id
from pledges.counting import count_if_complete, count_pledge
from pledges.demand import person_unit
from pledges.errors import (
    CampaignNotFound,
    PaymentNotPossible,
    PledgeNotFound,
    RefundFailed,
    RefundsUnavailable,
)
from pledges.journal import record_event
from pledges.store import Store, aware, utcnow
from pledges.tables import campaigns, pledges, stripe_events

log = logging.getLogger("groundswell.payments")

CHARGE_LEASE = timedelta(minutes=5)
# Kickstarter's practice: ask the resident to pay, remind them, give up after 7 days.
REMIND_AFTER = timedelta(hours=48)
GIVE_UP_AFTER = timedelta(days=7)
BATCH = 50
CONCURRENCY = 8
# Payment states in which a counted pledge may still turn into money.
OUTSTANDING = ("card_saved", "charging", "action_required")
# Paid after its resident withdrew it (the withdrawal landed while the charge was on its
# way): the worker refunds it in full, at once.
REFUND_DUE = "refund_due"
# Why a pledge was refunded, when nobody asked: it was paid after it was withdrawn.
BY_WITHDRAWAL = "withdrawal"


# ----- the card is saved ----------------------------------------------------------------


@dataclass(frozen=True)
class CardSaved:
    pledge_id: int
    newly_saved: bool
    counted: bool  # this step made the pledge count (its email was already confirmed)


async def record_card_saved(
    store: Store, pledge_id: int, customer: str | None, payment_method: str
) -> CardSaved:
    """Checkout (setup mode) finished: the card is saved. The pledge counts now if its
    email is confirmed; otherwise it counts when the resident confirms."""
    async with store.write() as db:
        return await _card_saved_in(db, pledge_id, customer, payment_method)


async def _card_saved_in(
    db: Database, pledge_id: int, customer: str | None, payment_method: str
) -> CardSaved:
    values: dict[str, Any] = {
        "payment_status": "card_saved",
        "card_saved_at": utcnow(),
        "stripe_payment_method_id": payment_method,
    }
    if customer:
        values["stripe_customer_id"] = customer
    saved = await db.fetch_one(
        sa.update(pledges)
        .where(pledges.c.id == pledge_id, pledges.c.payment_status == "awaiting_card")
        .values(**values)
        .returning(pledges.c.campaign_id)
    )
    if saved is None:
        exists = await db.fetch_val(sa.select(pledges.c.id).where(pledges.c.id == pledge_id))
        if exists is None:
            raise PledgeNotFound(str(pledge_id))
        return CardSaved(pledge_id, newly_saved=False, counted=False)
    await record_event(db, "pledge.card_saved", saved["campaign_id"], {"pledge_id": pledge_id})
    status = await db.fetch_val(
        sa.select(campaigns.c.status).where(campaigns.c.id == saved["campaign_id"])
    )
    if status not in ("open", "tipped"):
        # Closed meanwhile: it never counts, and the release pass detaches the card.
        return CardSaved(pledge_id, newly_saved=True, counted=False)
    counted = await count_if_complete(db, pledge_id)
    if counted is not None:
        await record_event(db, "pledge.confirmed", counted["campaign_id"], {"pledge_id": pledge_id})
        await count_pledge(
            db, pledge_id, counted["campaign_id"], counted["amount"] or 0, unit=person_unit(counted)
        )
    return CardSaved(pledge_id, newly_saved=True, counted=counted is not None)


# ----- paid, failed, refunded -------------------------------------------------------------


async def _paid_in(db: Database, pledge_id: int, payment_intent: str, amount: int) -> bool:
    """Record the money as collected, once; False if it already was (or cannot be). A
    pledge withdrawn before its payment is recorded was withdrawn while it was being
    charged: it becomes `refund_due`, and the worker gives the money back."""
    row = await db.fetch_one(
        sa.update(pledges)
        # "failed" too: a resident who opened the pay page before the 7 days ran out and
        # paid after it has paid, and the money is recorded as collected.
        .where(pledges.c.id == pledge_id, pledges.c.payment_status.in_((*OUTSTANDING, "failed")))
        .values(
            # Decided on the row as it is when this UPDATE takes it: on PostgreSQL a
            # withdrawal committed meanwhile is seen here, and one still running waits.
            payment_status=sa.case((pledges.c.status == "withdrawn", REFUND_DUE), else_="paid"),
            paid_at=utcnow(),
            stripe_payment_intent_id=payment_intent,
            charge_lease_until=None,
            payment_error=None,
        )
        .returning(pledges.c.campaign_id, pledges.c.amount, pledges.c.payment_status)
    )
    if row is None:
        return False
    await db.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == row["campaign_id"])
        .values(collected_amount=campaigns.c.collected_amount + amount)
    )
    payload: dict[str, Any] = {"pledge_id": pledge_id, "amount": amount}
    if row["payment_status"] == REFUND_DUE:
        payload["refund_due"] = True  # no receipt: the refund's email says what happened
    await record_event(db, "payment.succeeded", row["campaign_id"], payload)
    return True


async def record_paid(store: Store, pledge_id: int, payment_intent: str, amount: int) -> bool:
    async with store.write() as db:
        return await _paid_in(db, pledge_id, payment_intent, amount)


async def record_charge_failed(
    store: Store, pledge_id: int, error_code: str, payment_intent: str | None
) -> bool:
    """An off-session charge failed: the resident is emailed a link to pay (once; a
    second failure of the same pledge changes nothing)."""
    now = utcnow()
    async with store.write() as db:
        row = await db.fetch_one(
            sa.update(pledges)
            .where(pledges.c.id == pledge_id, pledges.c.payment_status == "charging")
            .values(
                payment_status="action_required",
                payment_error=error_code[:100],
                stripe_payment_intent_id=payment_intent,
                charge_failed_at=sa.func.coalesce(pledges.c.charge_failed_at, now),
                charge_lease_until=None,
            )
            .returning(pledges.c.campaign_id)
        )
        if row is None:
            return False
        await record_event(
            db,
            "payment.action_required",
            row["campaign_id"],
            {"pledge_id": pledge_id, "error": error_code[:100]},
        )
        return True


async def refund_pledge(store: Store, gateway: StripeGateway, pledge_id: int, *, by: str) -> int:
    """Refund a paid pledge in full (a lead's or an administrator's decision, `by`);
    returns the amount. Stripe is asked with the pledge's refund idempotency key, so a
    second click, or a retry after a failure, refunds once."""
    row = await store.database.fetch_one(
        sa.select(
            pledges.c.payment_status,
            pledges.c.stripe_payment_intent_id,
            pledges.c.amount,
        ).where(pledges.c.id == pledge_id)
    )
    if row is None:
        raise PledgeNotFound(str(pledge_id))
    if row["payment_status"] == "refunded":
        raise PaymentNotPossible("This pledge has already been refunded.")
    if row["payment_status"] != "paid" or not row["stripe_payment_intent_id"]:
        raise PaymentNotPossible("Only a paid pledge can be refunded.")
    refund_id = await gateway.refund(
        pledge_id=pledge_id, payment_intent=row["stripe_payment_intent_id"]
    )
    async with store.write() as db:
        await _refunded_in(db, pledge_id, refund_id, by)
    return int(row["amount"] or 0)


async def refund_in_full(
    store: Store, gateway: StripeGateway | None, pledge_id: int, *, by: str
) -> int:
    """Refund a paid pledge in full when a lead or an administrator asks (`by`); returns
    the amount. A second click refunds nothing more (refund_pledge sends Stripe the
    pledge's own idempotency key). Raises a RefundRefused when nothing was refunded."""
    if gateway is None:
        raise RefundsUnavailable()
    try:
        return await refund_pledge(store, gateway, pledge_id, by=by)
    except StripeFailure as exc:
        # Unreachable, or refusing (refunded already in Stripe's dashboard, say).
        log.warning("refunding pledge %s failed: %s", pledge_id, type(exc).__name__)
        raise RefundFailed() from exc


async def _refunded_in(db: Database, pledge_id: int, refund_id: str, by: str) -> bool:
    async def refunded_from(state: str) -> Any:
        return await db.fetch_one(
            sa.update(pledges)
            .where(pledges.c.id == pledge_id, pledges.c.payment_status == state)
            .values(payment_status="refunded", refunded_at=utcnow())
            .returning(pledges.c.campaign_id, pledges.c.amount)
        )

    # Stripe's refund.created may arrive before the worker records its own refund of a
    # pledge paid after withdrawing: either way the resident is told why.
    row = await refunded_from(REFUND_DUE)
    if row is not None:
        by = BY_WITHDRAWAL
    else:
        row = await refunded_from("paid")
    if row is None:
        return False
    amount = int(row["amount"] or 0)
    await db.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == row["campaign_id"])
        .values(refunded_amount=campaigns.c.refunded_amount + amount)
    )
    await record_event(
        db,
        "payment.refunded",
        row["campaign_id"],
        {"pledge_id": pledge_id, "amount": amount, "refund": refund_id, "by": by},
    )
    return True


# ----- Stripe's webhooks ------------------------------------------------------------------


async def process_stripe_event(store: Store, gateway: StripeGateway, event: dict[str, Any]) -> str:
    """Apply one verified Stripe event, exactly once per event id; returns what was done
    ("duplicate", "ignored", or the effect). Each effect is a guarded step, so events in
    any order, or an effect the worker or the return page already recorded, change nothing.
    """
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not event_id or not isinstance(obj, dict):
        raise ValueError("not a Stripe event")
    # What Stripe says is fetched before the transaction: no network call under the lock.
    effect = await _effect_of(gateway, event_type, obj)
    async with store.write() as db:
        first = await db.fetch_val(
            store.insert_or_ignore(stripe_events)
            .values(
                id=event_id[:255],
                type=event_type[:100],
                created=int(event.get("created") or 0),
                received_at=utcnow(),
            )
            .returning(stripe_events.c.id)
        )
        if first is None:
            return "duplicate"
        if effect is None:
            return "ignored"
        kind, pledge_id, args = effect
        exists = await db.fetch_val(sa.select(pledges.c.id).where(pledges.c.id == pledge_id))
        if exists is None:
            return "ignored"  # not one of ours (or erased long ago)
        if kind == "card_saved":
            done = await _card_saved_in(db, pledge_id, args[0], args[1])
            return "card_saved" if done.newly_saved else "already"
        if kind == "paid":
            return "paid" if await _paid_in(db, pledge_id, args[0], args[1]) else "already"
        if kind == "refunded":
            return "refunded" if await _refunded_in(db, pledge_id, args[0], "stripe") else "already"
    return "ignored"  # pragma: no cover - every kind returns above


async def _effect_of(
    gateway: StripeGateway, event_type: str, obj: dict[str, Any]
) -> tuple[str, int, tuple[Any, ...]] | None:
    pledge_id = pledge_id_of(obj.get("metadata"))
    if pledge_id is None:
        return None
    if event_type == "setup_intent.succeeded" and obj.get("payment_method"):
        return "card_saved", pledge_id, (obj.get("customer"), obj["payment_method"])
    if event_type == "checkout.session.completed" and obj.get("status") == "complete":
        if obj.get("mode") == "setup" and obj.get("setup_intent"):
            customer, method = await gateway.saved_card(str(obj["setup_intent"]))
            if method is None:
                return None
            return "card_saved", pledge_id, (customer or obj.get("customer"), method)
        if obj.get("mode") == "payment" and obj.get("payment_status") == "paid":
            return "paid", pledge_id, (obj.get("payment_intent"), int(obj["amount_total"] or 0))
        return None
    if event_type == "payment_intent.succeeded":
        amount = int(obj.get("amount_received") or obj.get("amount") or 0)
        return "paid", pledge_id, (obj.get("id"), amount)
    if event_type == "refund.created" and obj.get("status") in ("succeeded", "pending"):
        return "refunded", pledge_id, (obj.get("id"),)
    return None


# ----- the worker's pass --------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    pledge_id: int
    campaign_id: int
    amount: int
    customer: str | None
    payment_method: str | None
    title: str
    currency: str


async def _claim(
    store: Store, new_status: str, condition: Any, now: datetime, limit: int
) -> list[_Job]:
    """Move up to `limit` pledges matching `condition` to `new_status` under a lease."""
    chosen = (
        sa.select(pledges.c.id)
        .select_from(pledges.join(campaigns, campaigns.c.id == pledges.c.campaign_id))
        .where(condition)
        .order_by(pledges.c.id)
        .limit(limit)
    )

    async def with_campaign_names(db: Database, rows: list[Any]) -> list[Any]:
        if not rows:
            return []
        names = {
            r["id"]: (r["title"], r["currency"] or "")
            for r in await db.fetch_all(
                sa.select(campaigns.c.id, campaigns.c.title, campaigns.c.currency).where(
                    campaigns.c.id.in_({r["campaign_id"] for r in rows})
                )
            )
        }
        return [
            _Job(
                r["id"],
                r["campaign_id"],
                int(r["amount"] or 0),
                r["stripe_customer_id"],
                r["stripe_payment_method_id"],
                *names[r["campaign_id"]],
            )
            for r in sorted(rows, key=lambda r: r["id"])
        ]

    return await store.claim(
        pledges,
        chosen,
        {"payment_status": new_status, "charge_lease_until": now + CHARGE_LEASE},
        returning=(
            pledges.c.id,
            pledges.c.campaign_id,
            pledges.c.amount,
            pledges.c.stripe_customer_id,
            pledges.c.stripe_payment_method_id,
        ),
        of=pledges,
        then=with_campaign_names,
    )


def _lease_over(now: datetime) -> Any:
    return sa.or_(pledges.c.charge_lease_until.is_(None), pledges.c.charge_lease_until <= now)


async def charge_due(store: Store, gateway: StripeGateway, now: datetime | None = None) -> int:
    """Charge the saved cards of counted pledges of tipped campaigns; a pledge whose
    charging was interrupted (lease over) is charged again with the same key."""
    now = now or utcnow()
    condition = sa.and_(
        campaigns.c.status == "tipped",
        pledges.c.status == "confirmed",
        sa.or_(
            pledges.c.payment_status == "card_saved",
            sa.and_(pledges.c.payment_status == "charging", _lease_over(now)),
        ),
    )
    jobs = await _claim(store, "charging", condition, now, BATCH)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def charge(job: _Job) -> None:
        async with gate:
            if await _withdrawn_since_claimed(store, job.pledge_id):
                return
            if not job.customer or not job.payment_method:
                await record_charge_failed(store, job.pledge_id, "no_saved_card", None)
                return
            try:
                result: ChargeResult = await gateway.charge(
                    pledge_id=job.pledge_id,
                    customer=job.customer,
                    payment_method=job.payment_method,
                    amount=job.amount,
                    currency=job.currency,
                    description=f"Pledge to {job.title}",
                )
            except Exception as exc:
                # Stripe unreachable or refusing the request: the lease runs out and the
                # next pass tries again with the same idempotency key.
                log.warning("charging pledge %s failed: %s", job.pledge_id, type(exc).__name__)
                return
            if result.succeeded and result.payment_intent_id:
                await record_paid(store, job.pledge_id, result.payment_intent_id, result.amount)
            else:
                await record_charge_failed(
                    store, job.pledge_id, result.error_code or "failed", result.payment_intent_id
                )

    await asyncio.gather(*(charge(j) for j in jobs))
    return len(jobs)


async def _withdrawn_since_claimed(store: Store, pledge_id: int) -> bool:
    """A pledge withdrawn (or struck out) after it was claimed for charging, before Stripe
    is asked: it is not charged, and goes back to its saved card, which release_due then
    removes. A withdrawal later than this look is caught when the payment is recorded."""
    status = await store.database.fetch_val(
        sa.select(pledges.c.status).where(pledges.c.id == pledge_id)
    )
    if status == "confirmed":
        return False
    async with store.write() as db:
        await db.execute(
            sa.update(pledges)
            .where(
                pledges.c.id == pledge_id,
                pledges.c.payment_status == "charging",
                pledges.c.status != "confirmed",
            )
            .values(payment_status="card_saved", charge_lease_until=None)
        )
    return True


async def settle_abandoned_charges(
    store: Store, gateway: StripeGateway, now: datetime | None = None
) -> int:
    """Pledges withdrawn (or struck out) while a worker that then stopped was charging them
    (their lease ran out): charge_due never claims them again, so Stripe is asked whether
    the charge was made. Made: it is recorded (a withdrawn pledge's payment is then
    refunded, see refund_withdrawn). Not made: the pledge goes back to its saved card,
    which release_due removes. Nothing is charged to find out."""
    now = now or utcnow()
    rows = await store.database.fetch_all(
        sa.select(pledges.c.id, pledges.c.stripe_customer_id)
        .where(
            pledges.c.payment_status == "charging",
            pledges.c.status != "confirmed",
            _lease_over(now),
        )
        .order_by(pledges.c.id)
        .limit(BATCH)
    )
    settled = 0
    for row in rows:
        try:
            payment = (
                await gateway.pledge_payment(
                    customer=row["stripe_customer_id"], pledge_id=row["id"]
                )
                if row["stripe_customer_id"]
                else None
            )
        except Exception as exc:
            log.warning("looking up pledge %s's charge failed: %s", row["id"], type(exc).__name__)
            continue  # the next pass asks again
        if payment is not None:
            settled += await record_paid(store, row["id"], *payment)
            continue
        async with store.write() as db:
            back = await db.fetch_val(
                sa.update(pledges)
                .where(
                    pledges.c.id == row["id"],
                    pledges.c.payment_status == "charging",
                    pledges.c.status != "confirmed",
                    _lease_over(now),
                )
                .values(payment_status="card_saved", charge_lease_until=None)
                .returning(pledges.c.id)
            )
        settled += back is not None
    return settled


async def refund_withdrawn(store: Store, gateway: StripeGateway) -> int:
    """Refund in full the pledges paid after their residents withdrew them (`refund_due`),
    and record it; the resident is emailed. Stripe is asked with the pledge's refund
    idempotency key, so two workers, or a retry after Stripe failed, refund once."""
    due = await store.database.fetch_all(
        sa.select(pledges.c.id, pledges.c.stripe_payment_intent_id)
        .where(pledges.c.payment_status == REFUND_DUE)
        .order_by(pledges.c.id)
        .limit(BATCH)
    )
    refunded = 0
    for row in due:
        try:
            refund_id = await gateway.refund(
                pledge_id=row["id"], payment_intent=row["stripe_payment_intent_id"]
            )
        except Exception as exc:
            log.warning("refunding withdrawn pledge %s failed: %s", row["id"], type(exc).__name__)
            continue  # the next pass tries again, with the same key
        async with store.write() as db:
            refunded += await _refunded_in(db, row["id"], refund_id, BY_WITHDRAWAL)
    return refunded


async def release_due(store: Store, gateway: StripeGateway, now: datetime | None = None) -> int:
    """Detach saved cards that will never be charged: the campaign expired or was
    cancelled, or the pledge was withdrawn, struck out or erased."""
    now = now or utcnow()
    condition = sa.and_(
        sa.or_(
            pledges.c.payment_status == "card_saved",
            sa.and_(pledges.c.payment_status == "releasing", _lease_over(now)),
        ),
        sa.or_(
            campaigns.c.status.in_(("expired", "cancelled")),
            pledges.c.status.in_(("withdrawn", "invalid")),
        ),
    )
    jobs = await _claim(store, "releasing", condition, now, BATCH)
    for job in jobs:
        try:
            if job.payment_method:
                await gateway.detach(job.payment_method)
        except Exception as exc:
            log.warning("releasing pledge %s failed: %s", job.pledge_id, type(exc).__name__)
            continue  # the lease runs out and a later pass tries again
        async with store.write() as db:
            await db.execute(
                sa.update(pledges)
                .where(pledges.c.id == job.pledge_id, pledges.c.payment_status == "releasing")
                .values(payment_status="released", released_at=utcnow(), charge_lease_until=None)
            )
    return len(jobs)


async def remind_and_give_up(store: Store, now: datetime | None = None) -> int:
    """Residents asked to pay: one reminder after 48 hours (unless they withdrew), and
    after 7 days the pledge is marked failed (it stays counted: the campaign tipped with
    it)."""
    now = now or utcnow()
    waiting = sa.select(pledges.c.id).where(pledges.c.payment_status == "action_required")
    if await store.database.fetch_val(waiting.limit(1)) is None:
        return 0  # the common case: no write transaction
    async with store.write() as db:
        reminded = await db.fetch_all(
            sa.update(pledges)
            .where(
                pledges.c.payment_status == "action_required",
                pledges.c.status == "confirmed",  # not after withdrawing or striking out
                pledges.c.payment_reminded_at.is_(None),
                pledges.c.charge_failed_at <= now - REMIND_AFTER,
                pledges.c.charge_failed_at > now - GIVE_UP_AFTER,
            )
            .values(payment_reminded_at=now)
            .returning(pledges.c.id, pledges.c.campaign_id)
        )
        for r in reminded:
            await record_event(db, "payment.reminder", r["campaign_id"], {"pledge_id": r["id"]})
        failed = await db.fetch_all(
            sa.update(pledges)
            .where(
                pledges.c.payment_status == "action_required",
                pledges.c.charge_failed_at <= now - GIVE_UP_AFTER,
            )
            .values(payment_status="failed")
            .returning(pledges.c.id, pledges.c.campaign_id)
        )
        for r in failed:
            await record_event(db, "payment.failed", r["campaign_id"], {"pledge_id": r["id"]})
    return len(reminded) + len(failed)


async def fund_finished(store: Store) -> list[str]:
    """Tipped money campaigns whose charging is over (no counted pledge is still to be
    paid) record `campaign.funded` with their totals, once."""
    outstanding = (
        sa.select(pledges.c.id)
        .where(
            pledges.c.campaign_id == campaigns.c.id,
            pledges.c.status == "confirmed",
            pledges.c.payment_status.in_(OUTSTANDING),
        )
        .exists()
    )
    due = sa.select(campaigns.c.id).where(
        campaigns.c.status == "tipped",
        campaigns.c.currency.is_not(None),
        campaigns.c.funded_at.is_(None),
        ~outstanding,
    )
    if await store.database.fetch_val(due.limit(1)) is None:
        return []
    funded = []
    async with store.write() as db:
        rows = await db.fetch_all(
            sa.update(campaigns)
            .where(campaigns.c.id.in_(due.scalar_subquery()), campaigns.c.funded_at.is_(None))
            .values(funded_at=utcnow())
            .returning(campaigns.c.id)
        )
        for row in rows:
            campaign = await get_campaign_by_id(db, row["id"])
            totals = await payment_totals(db, campaign.id)
            await record_event(
                db, "campaign.funded", campaign.id, {**campaign.public_payload(), **totals}
            )
            funded.append(campaign.slug)
    return funded


async def payment_totals(db: Database, campaign_id: int) -> dict[str, Any]:
    """Pledged, collected, failed and refunded money of a campaign, and pledges by state."""
    campaign = await db.fetch_one(
        sa.select(
            campaigns.c.currency,
            campaigns.c.pledged_amount,
            campaigns.c.collected_amount,
            campaigns.c.refunded_amount,
        ).where(campaigns.c.id == campaign_id)
    )
    if campaign is None:
        raise CampaignNotFound(str(campaign_id))
    rows = await db.fetch_all(
        sa.select(
            pledges.c.payment_status,
            sa.func.count().label("n"),
            sa.func.coalesce(sa.func.sum(pledges.c.amount), 0).label("amount"),
        )
        .where(
            pledges.c.campaign_id == campaign_id,
            pledges.c.status == "confirmed",
            pledges.c.payment_status.is_not(None),
        )
        .group_by(pledges.c.payment_status)
    )
    by_status = {
        r["payment_status"]: {"pledges": int(r["n"]), "amount": int(r["amount"])} for r in rows
    }
    return {
        "currency": campaign["currency"],
        "pledged": int(campaign["pledged_amount"]),
        "collected": int(campaign["collected_amount"]),
        "refunded": int(campaign["refunded_amount"]),
        "failed": by_status.get("failed", {}).get("amount", 0),
        "pledges": {status: v["pledges"] for status, v in sorted(by_status.items())},
    }


async def forget_customers(store: Store, gateway: StripeGateway) -> int:
    """Delete at Stripe the customer (name, email) of each erased or anonymised pledge,
    once nothing more will be charged to it, and drop the ids of customer and card. The
    payment's id, amount and state stay: the record of what was paid, for refunds."""
    due = await store.database.fetch_all(
        sa.select(pledges.c.id, pledges.c.stripe_customer_id)
        .where(
            pledges.c.anonymised_at.is_not(None),
            pledges.c.stripe_customer_id.is_not(None),
            # A card still to be released or charged keeps its customer until then.
            sa.or_(
                pledges.c.payment_status.is_(None),
                pledges.c.payment_status.not_in(("card_saved", "releasing", *OUTSTANDING)),
            ),
        )
        .order_by(pledges.c.id)
        .limit(BATCH)
    )
    forgotten = 0
    for row in due:
        try:
            await gateway.delete_customer(row["stripe_customer_id"])
        except Exception as exc:
            log.warning("deleting pledge %s's customer failed: %s", row["id"], type(exc).__name__)
            continue  # the next pass tries again
        async with store.write() as db:
            await db.execute(
                sa.update(pledges)
                .where(
                    pledges.c.id == row["id"],
                    pledges.c.stripe_customer_id == row["stripe_customer_id"],
                )
                .values(stripe_customer_id=None, stripe_payment_method_id=None)
            )
        forgotten += 1
    return forgotten


async def run_payments(store: Store, gateway: StripeGateway, *, forget: bool = True) -> int:
    """One pass of the worker's payments loop; `forget` includes deleting the Stripe
    customers of erased and anonymised pledges (a table scan: the worker does it once a
    minute, not on every pass)."""
    now = utcnow()
    done = await release_due(store, gateway, now)
    done += await charge_due(store, gateway, now)
    done += await settle_abandoned_charges(store, gateway, now)
    done += await refund_withdrawn(store, gateway)
    done += await remind_and_give_up(store, now)
    done += len(await fund_finished(store))
    if forget:
        done += await forget_customers(store, gateway)
    return done


# ----- what pages need --------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentView:
    pledge_id: int
    campaign_id: int
    status: str
    payment_status: str | None
    amount: int | None
    customer: str | None
    email: str
    name: str
    charge_failed_at: datetime | None
    # Stripe's code for the last failed charge: authentication_required, card_declined...
    payment_error: str | None = None


async def payment_view(db: Database, pledge_id: int) -> PaymentView:
    row = await db.fetch_one(sa.select(pledges).where(pledges.c.id == pledge_id))
    if row is None:
        raise PledgeNotFound(str(pledge_id))
    return PaymentView(
        pledge_id=row["id"],
        campaign_id=row["campaign_id"],
        status=row["status"],
        payment_status=row["payment_status"],
        amount=row["amount"],
        customer=row["stripe_customer_id"],
        email=row["email"],
        name=row["name"],
        charge_failed_at=aware(row["charge_failed_at"]),
        payment_error=row["payment_error"],
    )


async def remember_customer(store: Store, pledge_id: int, customer: str) -> None:
    """The Stripe customer made for a pledge, kept so a second Checkout reuses it."""
    async with store.write() as db:
        await db.execute(
            sa.update(pledges)
            .where(pledges.c.id == pledge_id, pledges.c.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer)
        )
