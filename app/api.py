"""JSON API v1: a contract outside clients depend on. Parse, call the domain, render."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.bootstrap import Services
from app.errors import Problem
from app.openapi import openapi_document
from app.payment_pages import card_checkout_url
from pledges import campaigns as campaign_service
from pledges import pledging
from pledges.accounts import Lead, lead_for_key
from pledges.campaigns import CATEGORIES, STATUSES, Campaign
from pledges.errors import CampaignHidden, CampaignNotFound, FieldError, PledgeInvalid
from pledges.identity import district_of
from pledges.pledging import Progress

MAX_BODY = 64 * 1024

log = logging.getLogger("groundswell.api")


def services(request: Request) -> Services:
    return request.app.state.services


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit`: never held whole in memory."""
    too_large = Problem(413, f"The body must be at most {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type:
        raise Problem(415, "Send the body as application/json.")
    raw = await read_limited(request, MAX_BODY)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "The body is not valid JSON.", [FieldError("body", str(exc))]) from exc
    except RecursionError as exc:
        raise Problem(
            400, "The body is not valid JSON.", [FieldError("body", "Nested too deeply.")]
        ) from exc
    if not isinstance(data, dict):
        raise Problem(
            400, "The body must be a JSON object.", [FieldError("body", "Send a JSON object.")]
        )
    return data


def client_ip(request: Request) -> str | None:
    """The client's address (uvicorn's --proxy-headers puts a trusted proxy's
    X-Forwarded-For here)."""
    return request.client.host if request.client else None


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(
            401,
            "Use the header 'Authorization: Bearer <API key>'.",
            headers={"WWW-Authenticate": 'Bearer realm="groundswell"'},
        )
    return key.strip()


async def require_lead(request: Request) -> Lead:
    key = bearer_key(request)
    if key is None:
        raise Problem(
            401,
            "This needs a campaign lead's API key.",
            headers={"WWW-Authenticate": 'Bearer realm="groundswell"'},
        )
    lead = await lead_for_key(services(request).store.database, key)
    if lead is None:
        raise Problem(
            401,
            "That API key is not valid.",
            headers={"WWW-Authenticate": 'Bearer realm="groundswell", error="invalid_token"'},
        )
    return lead


def campaign_json(campaign: Campaign, base_url: str) -> dict[str, Any]:
    # target is null when a money target stands in for a count of pledges; the money
    # fields appear on money campaigns only, so other campaigns read as they always did.
    threshold: dict[str, Any] = {"target": campaign.target or None}
    progress: dict[str, Any] = {"confirmed": campaign.confirmed, "percent": campaign.percent}
    if campaign.is_money:
        threshold["money_target"] = campaign.money_target
        progress["pledged"] = campaign.pledged_amount
    return {
        "slug": campaign.slug,
        "title": campaign.title,
        "summary": campaign.summary,
        "description": campaign.description,
        "category": campaign.category,
        "status": campaign.status,
        "area": {
            "name": campaign.area_name,
            "postcode_districts": list(campaign.postcode_districts),
        },
        "threshold": threshold,
        "progress": progress,
        "money": campaign.money_payload(),
        "milestones": list(campaign.milestones),
        "deadline": campaign.deadline.isoformat(),
        "tipped_at": campaign.tipped_at.isoformat() if campaign.tipped_at else None,
        "created_at": campaign.created_at.isoformat(),
        "url": f"{base_url}/c/{campaign.slug}",
    }


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


async def list_campaigns(request: Request) -> JSONResponse:
    params = request.query_params
    errors: list[FieldError] = []
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        errors.append(FieldError("status", f"Choose one of: {', '.join(STATUSES)}."))
    category = params.get("category") or None
    if category is not None and category not in CATEGORIES:
        errors.append(FieldError("category", f"Choose one of: {', '.join(CATEGORIES)}."))
    district = None
    if params.get("postcode"):
        district = district_of(params["postcode"])
        if district is None:
            errors.append(FieldError("postcode", "Not a UK postcode or postcode district."))
    if errors:
        raise Problem(422, "Some query parameters are not valid.", errors)
    svc = services(request)
    found = await campaign_service.list_campaigns(
        svc.store.database, status=status, category=category, district=district
    )
    return JSONResponse({"campaigns": [campaign_json(c, svc.settings.base_url) for c in found]})


async def get_campaign(request: Request) -> JSONResponse:
    svc = services(request)
    campaign = await campaign_service.get_campaign(svc.store.database, request.path_params["slug"])
    if not campaign.is_public:  # a draft, or hidden by an administrator
        raise Problem(404, "There is no campaign at this address.")
    return JSONResponse(campaign_json(campaign, svc.settings.base_url))


async def create_campaign(request: Request) -> JSONResponse:
    lead = await require_lead(request)
    data = await json_body(request)
    svc = services(request)
    campaign = await campaign_service.create_campaign(
        svc.store, lead.id, data, money_enabled=svc.settings.money_enabled
    )
    return JSONResponse(
        campaign_json(campaign, svc.settings.base_url),
        status_code=201,
        headers={"Location": f"/api/v1/campaigns/{campaign.slug}"},
    )


async def create_pledge(request: Request) -> JSONResponse:
    svc = services(request)
    slug = request.path_params["slug"]
    key = bearer_key(request)
    data = await json_body(request)
    source = data.get("source", "api")
    if source not in ("api", "paper"):
        raise Problem(422, "Unknown source.", [FieldError("source", "Use 'api' or 'paper'.")])
    if source == "paper":
        lead = await require_lead(request)
        outcome = await pledging.record_paper_pledge(svc.store, slug, lead.id, data)
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
    outcome = await pledging.record_pledge(
        svc.store,
        slug,
        data,
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
        return await card_checkout_url(svc, pledge_id)
    except Problem:
        raise
    except Exception as exc:
        log.warning("no Checkout for pledge %s: %s", pledge_id, type(exc).__name__)
        return None


async def _token(request: Request) -> str:
    data = await json_body(request)
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise Problem(
            422, "A token is needed.", [FieldError("token", "Send the token from the email link.")]
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


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(services(request).settings.base_url))


routes = [
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    Route("/api/v1/campaigns", list_campaigns, methods=["GET"]),
    Route("/api/v1/campaigns", create_campaign, methods=["POST"]),
    Route("/api/v1/campaigns/{slug}", get_campaign, methods=["GET"]),
    Route("/api/v1/campaigns/{slug}/pledges", create_pledge, methods=["POST"]),
    Route("/api/v1/pledges/confirm", confirm_pledge, methods=["POST"]),
    Route("/api/v1/pledges/withdraw", withdraw_pledge, methods=["POST"]),
]
