"""Refunds asked for on a page, by a campaign's lead or an administrator: one call to
pledges.payments.refund_pledge, and each way it can fail said in words with its status."""

from __future__ import annotations

import logging

import stripe

from app.bootstrap import Services
from pledges.payments import PaymentNotPossible, refund_pledge

log = logging.getLogger("groundswell.payments")

NO_PAYMENTS = "Money pledges are not available on this site now, so nothing can be refunded."
STRIPE_FAILED = (
    "Stripe, our card processor, did not make the refund just now, so nothing has changed. "
    "Please try again in a few minutes."
)


class RefundRefused(Exception):
    """Nothing was refunded; `message` says why, `status` is the page's HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def refund(svc: Services, pledge_id: int, *, by: str) -> int:
    """Refund a paid pledge in full; returns the amount. A second click refunds nothing
    more (refund_pledge sends Stripe the pledge's own idempotency key)."""
    if svc.payments is None:
        raise RefundRefused(409, NO_PAYMENTS)
    try:
        return await refund_pledge(svc.store, svc.payments, pledge_id, by=by)
    except PaymentNotPossible as exc:
        raise RefundRefused(409, exc.message) from exc
    except stripe.StripeError as exc:
        # Unreachable, or refusing (refunded already in Stripe's dashboard, say).
        log.warning("refunding pledge %s failed: %s", pledge_id, type(exc).__name__)
        raise RefundRefused(502, STRIPE_FAILED) from exc
