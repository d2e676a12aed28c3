"""Money pledges in the browser: to Stripe Checkout (pledges/checkout.py opens the
session) and back, paying after a failed charge, and Stripe's webhooks in. Card data
never touches Groundswell."""

from __future__ import annotations

import logging
import re
from typing import Any

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import Services, services
from app.csrf import check_csrf
from app.pages.rendering import render
from gateways.stripe_gateway import SessionState, StripeGateway
from pledges.campaigns import Campaign, get_campaign_by_id
from pledges.checkout import card_checkout_url, pay_checkout_url
from pledges.errors import CheckoutRefused, InvalidToken, PaymentsOff, PledgeNotFound
from pledges.payments import (
    PaymentView,
    payment_view,
    process_stripe_event,
    record_card_saved,
    record_paid,
)

log = logging.getLogger("groundswell.payments")

# Stripe's events are a few kilobytes; anything far larger is not from Stripe.
MAX_WEBHOOK_BODY = 256 * 1024
# What a Checkout Session id looks like; anything else is refused before asking Stripe.
SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
STRIPE_UNREACHABLE = (
    "We could not reach Stripe, our card processor, just now. Nothing has been charged. "
    "Please try again in a few minutes."
)


# ----- pages --------------------------------------------------------------------------------


def _money_on(svc: Services) -> StripeGateway:
    """The gateway, or a 404: without Stripe these pages do not exist."""
    if svc.payments is None:
        raise PaymentsOff()
    return svc.payments


def _problem_page(
    request: Request, heading: str, message: str, status_code: int, **context: Any
) -> Response:
    return render(
        request,
        "pay/problem.html",
        {"heading": heading, "message": message, **context},
        status_code=status_code,
    )


def _token_problem(request: Request, exc: InvalidToken) -> Response:
    return render(request, "token_problem.html", {"message": exc.reason}, status_code=400)


async def _pledge_and_campaign(svc: Services, pledge_id: int) -> tuple[PaymentView, Campaign]:
    async with svc.store.read() as db:
        pledge = await payment_view(db, pledge_id)
        campaign = await get_campaign_by_id(db, pledge.campaign_id)
    return pledge, campaign


async def _session(gateway: StripeGateway, session_id: str) -> SessionState | None:
    """The Checkout Session as Stripe has it; None if Stripe knows no such session.
    Stripe being unreachable raises (the page says to try again)."""
    if not SESSION_ID.match(session_id):
        return None
    try:
        return await gateway.retrieve_session(session_id)
    except stripe.InvalidRequestError:
        return None


async def card_saved_page(request: Request) -> Response:
    """Back from Checkout (setup mode). The session is fetched from Stripe: the query string
    only says which one to look at."""
    svc = services(request)
    gateway = _money_on(svc)
    slug = request.path_params["slug"]
    not_saved = "We could not find a saved card for a pledge to this campaign at this address."
    try:
        session = await _session(gateway, request.query_params.get("session_id", ""))
    except Exception as exc:
        log.warning("retrieving a Checkout Session failed: %s", type(exc).__name__)
        return _problem_page(request, "We could not check your card", STRIPE_UNREACHABLE, 503)
    if (
        session is None
        or session.mode != "setup"
        or session.status != "complete"
        or session.pledge_id is None
        or session.setup_intent is None
    ):
        return _problem_page(request, "Your card is not saved", not_saved, 400)
    try:
        pledge, campaign = await _pledge_and_campaign(svc, session.pledge_id)
    except PledgeNotFound:
        return _problem_page(request, "Your card is not saved", not_saved, 400)
    if campaign.slug != slug:
        return _problem_page(request, "Your card is not saved", not_saved, 400)
    try:
        customer, method = await gateway.saved_card(session.setup_intent)
    except Exception as exc:
        log.warning("retrieving a SetupIntent failed: %s", type(exc).__name__)
        return _problem_page(request, "We could not check your card", STRIPE_UNREACHABLE, 503)
    if method is None:
        return _problem_page(request, "Your card is not saved", not_saved, 400)
    await record_card_saved(svc.store, pledge.pledge_id, customer or session.customer, method)
    # As it is now: Stripe's webhook may have recorded the card first, or the email may
    # have been confirmed in another tab.
    pledge, campaign = await _pledge_and_campaign(svc, pledge.pledge_id)
    return render(request, "pay/card_saved.html", {"campaign": campaign, "pledge": pledge})


async def card_cancelled_page(request: Request) -> Response:
    """The resident left Checkout without saving a card."""
    svc = services(request)
    _money_on(svc)
    token = request.query_params.get("token", "")
    try:
        pledge_id = int(svc.signer.unsign(token, "pledge-card"))
        pledge, campaign = await _pledge_and_campaign(svc, pledge_id)
    except InvalidToken as exc:
        return _token_problem(request, exc)
    return render(
        request,
        "pay/card_cancelled.html",
        {"campaign": campaign, "pledge": pledge, "card_token": token},
    )


async def save_card(request: Request) -> Response:
    """The "Save your card" button: a fresh Checkout Session, as Stripe's expire."""
    svc = services(request)
    _money_on(svc)
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    token = str(form.get("token", ""))
    try:
        pledge_id = int(svc.signer.unsign(token, "pledge-card"))
        pledge, campaign = await _pledge_and_campaign(svc, pledge_id)
    except InvalidToken as exc:
        return _token_problem(request, exc)
    context = {"campaign": campaign}
    if pledge.status in ("withdrawn", "invalid"):
        message = "This pledge was withdrawn or struck out, so it needs no card."
        return _problem_page(request, "No card is needed", message, 409, **context)
    if campaign.status not in ("open", "tipped"):
        message = f"The campaign is {campaign.status} and is not taking pledges."
        return _problem_page(request, "No card is needed", message, 409, **context)
    if pledge.payment_status != "awaiting_card":
        message = "Your card for this pledge is already saved."
        return _problem_page(request, "Your card is already saved", message, 409, **context)
    try:
        url = await card_checkout_url(
            svc.store, svc.payments, svc.signer, svc.settings.base_url, pledge_id
        )
    except (PaymentsOff, CheckoutRefused):
        raise
    except Exception as exc:
        log.warning("no Checkout for pledge %s: %s", pledge_id, type(exc).__name__)
        return _problem_page(
            request,
            "We could not reach Stripe",
            STRIPE_UNREACHABLE,
            503,
            card_token=token,
            **context,
        )
    return RedirectResponse(url, status_code=303)


async def pay_page(request: Request) -> Response:
    """Paying a pledge whose off-session charge failed: GET explains, POST goes to
    Checkout in payment mode."""
    svc = services(request)
    _money_on(svc)
    token = request.path_params["token"]
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf_token"))
    try:
        pledge_id = int(svc.signer.unsign(token, "pledge-pay"))
        pledge, campaign = await _pledge_and_campaign(svc, pledge_id)
    except InvalidToken as exc:
        return _token_problem(request, exc)
    # Withdrawn or struck out since the charge failed: no longer counted, nothing to pay.
    payable = pledge.payment_status == "action_required" and pledge.status == "confirmed"
    if request.method == "POST" and payable:
        try:
            url = await pay_checkout_url(
                svc.store, svc.payments, svc.settings.base_url, pledge_id, token
            )
        except (PaymentsOff, CheckoutRefused):
            raise
        except Exception as exc:
            log.warning("no payment Checkout for pledge %s: %s", pledge_id, type(exc).__name__)
            return _problem_page(
                request, "We could not reach Stripe", STRIPE_UNREACHABLE, 503, campaign=campaign
            )
        return RedirectResponse(url, status_code=303)
    return render(
        request,
        "pay/pay.html",
        {
            "campaign": campaign,
            "pledge": pledge,
            "payable": payable,
            "token": token,
            "authentication": pledge.payment_error == "authentication_required",
        },
        # Paying is no longer possible (given up, refunded, ...): the page says why.
        status_code=200 if payable or pledge.payment_status == "paid" else 409,
    )


async def pay_done_page(request: Request) -> Response:
    """Back from Checkout (payment mode): the payment is recorded from what Stripe says."""
    svc = services(request)
    gateway = _money_on(svc)
    try:
        pledge_id = int(svc.signer.unsign(request.path_params["token"], "pledge-pay"))
        pledge, campaign = await _pledge_and_campaign(svc, pledge_id)
    except InvalidToken as exc:
        return _token_problem(request, exc)
    not_paid = "We could not find a payment for this pledge at this address."
    try:
        session = await _session(gateway, request.query_params.get("session_id", ""))
    except Exception as exc:
        log.warning("retrieving a Checkout Session failed: %s", type(exc).__name__)
        message = (
            "We could not reach Stripe, our card processor, to check your payment just now. "
            "If it went through, it is recorded when Stripe tells us; reload this page in a "
            "few minutes to see."
        )
        return _problem_page(request, "We could not check your payment", message, 503)
    if (
        session is None
        or session.mode != "payment"
        or session.status != "complete"
        or session.pledge_id != pledge_id
        or not session.payment_intent
        or not session.amount_total
    ):
        return _problem_page(request, "Your payment is not recorded", not_paid, 400)
    await record_paid(svc.store, pledge_id, session.payment_intent, session.amount_total)
    pledge, campaign = await _pledge_and_campaign(svc, pledge_id)
    if pledge.payment_status not in ("paid", "refunded", "refund_due"):
        # Paid after the 7 days ran out: Stripe has the money, the pledge was given up.
        log.warning("pledge %s paid in state %s", pledge_id, pledge.payment_status)
    return render(request, "pay/paid.html", {"campaign": campaign, "pledge": pledge})


# ----- Stripe's webhooks --------------------------------------------------------------------


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The raw body, or None if it is longer than `limit` (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def stripe_webhook(request: Request) -> Response:
    """Stripe's events: verified over the raw body, applied once per event id. Not a form,
    so no CSRF token: the signature is what proves it came from Stripe. A 5xx makes
    Stripe retry, so only a failure worth retrying answers one."""
    svc = services(request)
    if svc.payments is None:
        return JSONResponse({"error": "Money pledges are not enabled here."}, status_code=404)
    body = await _body_within(request, MAX_WEBHOOK_BODY)
    if body is None:
        return JSONResponse({"error": "The body is too large."}, status_code=413)
    try:
        event = svc.payments.construct_event(body, request.headers.get("stripe-signature", ""))
    except (stripe.SignatureVerificationError, ValueError):
        log.warning("a Stripe webhook with a bad signature or body was refused")
        return JSONResponse(
            {"error": "The Stripe-Signature is missing or wrong, or the body is not an event."},
            status_code=400,
        )
    try:
        result = await process_stripe_event(svc.store, svc.payments, event)
    except ValueError:
        return JSONResponse({"error": "Not a Stripe event."}, status_code=400)
    except Exception:
        # The database or Stripe failed for now; Stripe sends the event again later.
        log.exception("Stripe event %s failed", str(event.get("id"))[:64])
        return JSONResponse({"error": "Not processed; try again."}, status_code=500)
    log.info("Stripe event %s (%s): %s", event.get("id"), event.get("type"), result)
    return JSONResponse({"received": True, "result": result})


routes = [
    Route("/c/{slug}/card-saved", card_saved_page, methods=["GET"]),
    Route("/c/{slug}/card-cancelled", card_cancelled_page, methods=["GET"]),
    Route("/pledges/card", save_card, methods=["POST"]),
    Route("/pay/{token}", pay_page, methods=["GET", "POST"]),
    Route("/pay/{token}/done", pay_done_page, methods=["GET"]),
    Route("/stripe/webhook", stripe_webhook, methods=["POST"]),
]
