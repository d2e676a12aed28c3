"""/api/v1 pledges: a resident's (or a lead's paper) pledge, confirming and withdrawing."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.api.requests import bearer_key, client_ip, json_body, require_lead
from app.bootstrap import Services, services
from app.errors import Problem
from pledges import campaigns as campaign_service
from pledges import pledging
from pledges.checkout import card_checkout_url
from pledges.errors import (
    CampaignHidden,
    CampaignNotFound,
    CheckoutRefused,
    FieldError,
    PaymentsOff,
    PledgeInvalid,
)
from pledges.pledging import Progress

log = logging.getLogger("groundswell.api")


def progress_json(progress: Progress, *, money: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {
        "slug": progress.slug,
        "status": progress.status,
        "confirmed": progress.confirmed,
        "target": progress.target or None,
        "percent": progress.percent,
    }
    if money:
        found |= {"pledged_amount": progress.pledged_amount, "money_target": progress.money_target}
    return found


async def _is_money(svc: Services, slug: str) -> bool:
    try:
        return (await campaign_service.get_campaign(svc.store.database, slug)).is_money
    except CampaignNotFound:  # pragma: no cover - a pledge's campaign is never deleted
        return False


async def create_pledge(request: Request) -> JSONResponse:
    svc = services(request)
    slug = request.path_params["slug"]
    key = bearer_key(request)
    data = await json_body(request)
    source = data.get("source", "api")
    if source not in ("api", "paper"):
        raise Problem(
            422,
            "Unknown source.",
            [FieldError("source", "not_in_choices", "Use 'api' or 'paper'.")],
        )
    if source == "paper":
        lead = await require_lead(request)
        pledge = pledging.parse_pledge(data)
        outcome = await pledging.record_paper_pledge(svc.store, slug, lead.id, pledge)
        progress = outcome.progress  # as of this pledge's commit: no second read
        if progress is None:  # a repeat changed nothing: read the count
            campaign = await campaign_service.get_campaign(svc.store.database, slug)
            progress = Progress(slug, campaign.status, campaign.confirmed, campaign.target)
        return JSONResponse(
            {
                "status": "confirmed",
                "repeated": outcome.repeated,
                "progress": {"confirmed": progress.confirmed, "percent": progress.percent},
            },
            status_code=201,
        )
    # An anonymous pledge is limited per client address; one sent with a lead's key is not.
    ip = None if key is not None else client_ip(request)
    if key is not None:
        await require_lead(request)  # a key that is sent must be valid
    pledge = pledging.parse_pledge(data)
    outcome = await pledging.record_pledge(
        svc.store,
        slug,
        pledge,
        source="api",
        ip=ip,
        rate_limit=svc.settings.pledge_rate_limit,
        money_enabled=svc.settings.money_enabled,
    )
    # The same answer for a new and a repeated pledge: nobody learns who has pledged.
    answer: dict[str, Any] = {"status": "pending"}
    if outcome.amount is not None:  # a money campaign
        answer |= {
            "amount": outcome.amount,
            "payment_status": outcome.payment_status,
            "checkout_url": await _checkout_url(svc, outcome.pledge_id)
            if outcome.payment_status == "awaiting_card"
            else None,
        }
    return JSONResponse(answer, status_code=202)


async def _checkout_url(svc: Services, pledge_id: int) -> str | None:
    """Where the resident saves a card; None when Stripe cannot be reached now (the
    pledge stands, and the link in its confirmation email leads to Checkout later)."""
    try:
        return await card_checkout_url(
            svc.store, svc.payments, svc.signer, svc.settings.base_url, pledge_id
        )
    except (PaymentsOff, CheckoutRefused):
        raise
    except Exception as exc:
        log.warning("no Checkout for pledge %s: %s", pledge_id, type(exc).__name__)
        return None


async def _token(request: Request) -> str:
    data = await json_body(request)
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise Problem(
            422,
            "A token is needed.",
            [FieldError("token", "required", "Send the token from the email link.")],
        )
    return token


async def confirm_pledge(request: Request) -> JSONResponse:
    svc = services(request)
    pledge_id = svc.signer.unsign(await _token(request), "pledge-confirm")
    try:
        outcome = await pledging.confirm_pledge(svc.store, int(pledge_id))
    except PledgeInvalid as exc:  # struck out by the moderators, for good
        raise Problem(410, str(exc)) from exc
    except CampaignHidden as exc:  # hidden by an administrator, for now
        raise Problem(409, str(exc)) from exc
    answer: dict[str, Any] = {
        "status": "confirmed",
        "already_confirmed": not outcome.newly_confirmed,
    }
    money = await _is_money(svc, outcome.progress.slug)
    if money:
        # A money pledge counts once its card is saved as well; until then this is true.
        answer["awaiting_card"] = outcome.awaiting_card
    answer["progress"] = progress_json(outcome.progress, money=money)
    return JSONResponse(answer)


async def withdraw_pledge(request: Request) -> JSONResponse:
    svc = services(request)
    pledge_id = svc.signer.unsign(await _token(request), "pledge-withdraw")
    progress = await pledging.withdraw_pledge(svc.store, int(pledge_id))
    money = await _is_money(svc, progress.slug)
    return JSONResponse({"status": "withdrawn", "progress": progress_json(progress, money=money)})


routes = [
    Route("/api/v1/campaigns/{slug}/pledges", create_pledge, methods=["POST"]),
    Route("/api/v1/pledges/confirm", confirm_pledge, methods=["POST"]),
    Route("/api/v1/pledges/withdraw", withdraw_pledge, methods=["POST"]),
]
