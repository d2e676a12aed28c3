"""/dev/webhooks: a receiver for the demo's providers' webhook endpoints, in development and
the demo only (404 otherwise). It answers 204, so their deliveries succeed and show as
delivered on the organisation's pages, and lists the newest it received as JSON."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.development.mailbox import require_dev
from pledges.store import utcnow

# Enough for every delivery the demo's seeding causes, with room for the visitor's own.
KEPT = 200


def _inbox(request: Request) -> deque[dict[str, Any]]:
    state = request.app.state
    if not hasattr(state, "dev_webhooks"):
        state.dev_webhooks = deque(maxlen=KEPT)
    inbox: deque[dict[str, Any]] = state.dev_webhooks
    return inbox


async def receive(request: Request) -> Response:
    require_dev(request)
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = {}
    _inbox(request).appendleft(
        {
            "endpoint": request.path_params["name"],
            "webhook_id": request.headers.get("webhook-id"),
            "type": body.get("type") if isinstance(body, dict) else None,
            "received_at": utcnow().isoformat(),
        }
    )
    return Response(status_code=204)


async def received(request: Request) -> Response:
    require_dev(request)
    return JSONResponse({"received": list(_inbox(request))})


routes = [
    Route("/dev/webhooks", received, methods=["GET"]),
    Route("/dev/webhooks/{name}", receive, methods=["POST"]),
]
