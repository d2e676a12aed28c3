"""/api/v1 contacts of a tipped campaign, for the organisations that receive it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.api.requests import require_organisation
from app.bootstrap import services
from app.errors import Problem
from notifications import demand


async def campaign_contacts(request: Request) -> JSONResponse:
    """Names and contact details of confirmed pledgers who consented, once a campaign tipped,
    for organisations with an endpoint that receives this campaign's events."""
    org = await require_organisation(request)
    try:
        campaign, contacts = await demand.campaign_contacts(
            services(request).store.database, org.id, request.path_params["slug"]
        )
    except demand.CampaignNotTipped as exc:
        raise Problem(409, str(exc)) from exc
    except demand.NotReceivingCampaign as exc:
        raise Problem(403, str(exc)) from exc
    return JSONResponse(
        {
            "campaign": campaign.slug,
            "contacts": [
                {"name": c.name, "email": c.email, "postcode": c.postcode} for c in contacts
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


routes = [Route("/api/v1/campaigns/{slug}/contacts", campaign_contacts, methods=["GET"])]
