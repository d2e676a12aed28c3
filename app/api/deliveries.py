"""/api/v1 deliveries of an organisation's webhook endpoint: the log, retrying, recovering."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.api.requests import json_body, require_organisation
from app.api.webhook_endpoints import endpoint_of_request
from app.bootstrap import services
from app.errors import Problem
from notifications import webhooks
from pledges.errors import FieldError
from pledges.store import utcnow


async def list_deliveries(request: Request) -> JSONResponse:
    org = await require_organisation(request)
    endpoint = await endpoint_of_request(request, org)
    limit = request.query_params.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 500:
        raise Problem(
            422,
            "Bad limit.",
            [FieldError("limit", "out_of_range", "A whole number from 1 to 500.")],
        )
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
    endpoint = await endpoint_of_request(request, org)
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
            [FieldError("since", "not_a_date", "An ISO 8601 time with a zone, in the past.")],
        )
    count = await webhooks.recover_failed(services(request).store, endpoint, since)
    return JSONResponse({"requeued": count}, status_code=202)


routes = [
    Route("/api/v1/webhook-endpoints/{id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/v1/webhook-endpoints/{id}/recover", recover, methods=["POST"]),
    Route("/api/v1/deliveries/{id}/retry", retry_delivery, methods=["POST"]),
]
