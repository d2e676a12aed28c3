"""/api/v1 webhook endpoints of a provider or council: register, read, change, rotate, test."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api.requests import json_body, require_organisation
from app.bootstrap import services
from app.errors import Problem
from notifications import endpoints as endpoint_service
from notifications import webhooks
from notifications.endpoints import Endpoint
from pledges.accounts import Organisation


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
    spec = await endpoint_service.parse_endpoint(
        data, partial=False, allow_private=svc.settings.webhook_allow_private_networks
    )
    endpoint = await endpoint_service.create_endpoint(svc.store, org.id, spec)
    return JSONResponse(
        endpoint_json(endpoint, secret=endpoint.secret),
        status_code=201,
        headers={"Location": f"/api/v1/webhook-endpoints/{endpoint.public_id}"},
    )


async def list_endpoints(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    found = await endpoint_service.list_endpoints(services(request).store.database, org.id)
    return JSONResponse({"endpoints": [endpoint_json(e) for e in found]})


async def endpoint_of_request(request: Request, org: Organisation) -> Endpoint:
    return await endpoint_service.get_endpoint(
        services(request).store.database, org.id, request.path_params["id"]
    )


async def get_endpoint(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    return JSONResponse(endpoint_json(await endpoint_of_request(request, org)))


async def update_endpoint(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    data = await json_body(request)
    svc = services(request)
    change = await endpoint_service.parse_endpoint(
        data, partial=True, allow_private=svc.settings.webhook_allow_private_networks
    )
    endpoint = await endpoint_service.update_endpoint(
        svc.store, org.id, request.path_params["id"], change
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
    endpoint = await endpoint_of_request(request, org)
    if endpoint.status != "active":
        raise Problem(409, "This endpoint is disabled; enable it before sending a test.")
    delivery_id = await webhooks.queue_test_message(services(request).store, endpoint)
    return JSONResponse({"delivery": delivery_id, "status": "pending"}, status_code=202)


routes = [
    Route("/api/v1/webhook-endpoints", list_endpoints, methods=["GET"]),
    Route("/api/v1/webhook-endpoints", create_endpoint, methods=["POST"]),
    Route("/api/v1/webhook-endpoints/{id}", get_endpoint, methods=["GET"]),
    Route("/api/v1/webhook-endpoints/{id}", update_endpoint, methods=["PATCH"]),
    Route("/api/v1/webhook-endpoints/{id}", delete_endpoint, methods=["DELETE"]),
    Route("/api/v1/webhook-endpoints/{id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/api/v1/webhook-endpoints/{id}/test", send_test, methods=["POST"]),
]
