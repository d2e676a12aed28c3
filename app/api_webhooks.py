"""JSON API v1 for providers and councils: webhook endpoints, deliveries, contacts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api import bearer_key, json_body, services
from app.errors import Problem
from notifications import demand, webhooks
from notifications import endpoints as endpoint_service
from notifications.endpoints import Endpoint
from pledges.accounts import Organisation, organisation_for_key
from pledges.errors import FieldError
from pledges.store import utcnow

UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="groundswell"'}


async def require_organisation(request: Request) -> Organisation:
    key = bearer_key(request)
    if key is None:
        raise Problem(401, "This needs a provider or council API key.", headers=UNAUTHORISED)
    org = await organisation_for_key(services(request).store.database, key)
    if org is None:
        raise Problem(401, "That API key is not valid for an organisation.", headers=UNAUTHORISED)
    return org


def endpoint_json(endpoint: Endpoint, *, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.public_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "filters": endpoint.filters,
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at.isoformat(),
        "last_success_at": endpoint.last_success_at.isoformat()
        if endpoint.last_success_at
        else None,
        "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
    }
    if secret is not None:
        body["secret"] = secret  # shown once, at creation and rotation
    return body


async def create_endpoint(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    data = await json_body(request)
    svc = services(request)
    endpoint = await endpoint_service.create_endpoint(
        svc.store, org.id, data, allow_private=svc.settings.webhook_allow_private_networks
    )
    return JSONResponse(
        endpoint_json(endpoint, secret=endpoint.secret),
        status_code=201,
        headers={"Location": f"/api/v1/webhook-endpoints/{endpoint.public_id}"},
    )


async def list_endpoints(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    found = await endpoint_service.list_endpoints(services(request).store.database, org.id)
    return JSONResponse({"endpoints": [endpoint_json(e) for e in found]})


async def _endpoint(request: Request, org: Organisation) -> Endpoint:
    return await endpoint_service.get_endpoint(
        services(request).store.database, org.id, request.path_params["id"]
    )


async def get_endpoint(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    return JSONResponse(endpoint_json(await _endpoint(request, org)))


async def update_endpoint(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    data = await json_body(request)
    svc = services(request)
    endpoint = await endpoint_service.update_endpoint(
        svc.store,
        org.id,
        request.path_params["id"],
        data,
        allow_private=svc.settings.webhook_allow_private_networks,
    )
    return JSONResponse(endpoint_json(endpoint))


async def delete_endpoint(request: Request) -> Response:
    org = await require_organisation(request)
    await endpoint_service.delete_endpoint(
        services(request).store, org.id, request.path_params["id"]
    )
    return Response(status_code=204)


async def rotate_secret(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    endpoint = await endpoint_service.rotate_secret(
        services(request).store, org.id, request.path_params["id"]
    )
    body = endpoint_json(endpoint, secret=endpoint.secret)
    body["previous_secret_expires_at"] = (
        endpoint.previous_secret_expires_at.isoformat()
        if endpoint.previous_secret_expires_at
        else None
    )
    return JSONResponse(body)


async def send_test(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    endpoint = await _endpoint(request, org)
    if endpoint.status != "active":
        raise Problem(409, "This endpoint is disabled; enable it before sending a test.")
    delivery_id = await webhooks.queue_test_message(services(request).store, endpoint)
    return JSONResponse({"delivery": delivery_id, "status": "pending"}, status_code=202)


async def list_deliveries(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    endpoint = await _endpoint(request, org)
    limit = request.query_params.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 500:
        raise Problem(422, "Bad limit.", [FieldError("limit", "A whole number from 1 to 500.")])
    found = await webhooks.deliveries_for_endpoint(
        services(request).store.database, endpoint, int(limit)
    )
    return JSONResponse({"deliveries": found})


async def retry_delivery(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    await webhooks.retry_delivery(services(request).store, org.id, request.path_params["id"])
    return JSONResponse(
        {"delivery": request.path_params["id"], "status": "pending"}, status_code=202
    )


async def recover(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    endpoint = await _endpoint(request, org)
    data = await json_body(request)
    since_raw = data.get("since")
    since = None
    if isinstance(since_raw, str):
        try:
            since = datetime.fromisoformat(since_raw.replace("Z", "+00:00"))
        except ValueError:
            since = None
    if since is None or since.tzinfo is None or since > utcnow():
        raise Problem(
            422,
            "Give the time to recover from.",
            [FieldError("since", "An ISO 8601 time with a zone, in the past.")],
        )
    count = await webhooks.recover_failed(services(request).store, endpoint, since)
    return JSONResponse({"requeued": count}, status_code=202)


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


routes = [
    Route("/api/v1/webhook-endpoints", list_endpoints, methods=["GET"]),
    Route("/api/v1/webhook-endpoints", create_endpoint, methods=["POST"]),
    Route("/api/v1/webhook-endpoints/{id}", get_endpoint, methods=["GET"]),
    Route("/api/v1/webhook-endpoints/{id}", update_endpoint, methods=["PATCH"]),
    Route("/api/v1/webhook-endpoints/{id}", delete_endpoint, methods=["DELETE"]),
    Route("/api/v1/webhook-endpoints/{id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/api/v1/webhook-endpoints/{id}/test", send_test, methods=["POST"]),
    Route("/api/v1/webhook-endpoints/{id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/v1/webhook-endpoints/{id}/recover", recover, methods=["POST"]),
    Route("/api/v1/deliveries/{id}/retry", retry_delivery, methods=["POST"]),
    Route("/api/v1/campaigns/{slug}/contacts", campaign_contacts, methods=["GET"]),
]
