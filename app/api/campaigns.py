"""/api/v1 campaigns: list, read and create. Parse, call the domain, render."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.api.requests import json_body, require_lead
from app.bootstrap import services
from app.errors import Problem
from pledges import campaigns as campaign_service
from pledges.campaigns import CATEGORIES, STATUSES, Campaign
from pledges.errors import FieldError
from pledges.identity import district_of


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


async def list_campaigns(request: Request) -> JSONResponse:
    params = request.query_params
    errors: list[FieldError] = []
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        errors.append(
            FieldError("status", "not_in_choices", f"Choose one of: {', '.join(STATUSES)}.")
        )
    category = params.get("category") or None
    if category is not None and category not in CATEGORIES:
        errors.append(
            FieldError("category", "not_in_choices", f"Choose one of: {', '.join(CATEGORIES)}.")
        )
    district = None
    if params.get("postcode"):
        district = district_of(params["postcode"])
        if district is None:
            errors.append(
                FieldError("postcode", "not_a_postcode", "Not a UK postcode or postcode district.")
            )
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
    spec = campaign_service.parse_campaign(data)
    campaign = await campaign_service.create_campaign(
        svc.store, lead.id, spec, money_enabled=svc.settings.money_enabled
    )
    return JSONResponse(
        campaign_json(campaign, svc.settings.base_url),
        status_code=201,
        headers={"Location": f"/api/v1/campaigns/{campaign.slug}"},
    )


routes = [
    Route("/api/v1/campaigns", list_campaigns, methods=["GET"]),
    Route("/api/v1/campaigns", create_campaign, methods=["POST"]),
    Route("/api/v1/campaigns/{slug}", get_campaign, methods=["GET"]),
]
