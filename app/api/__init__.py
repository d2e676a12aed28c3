"""The JSON API under /api/v1, one module per resource. Each module declares its operations
(app/api/contract.py); from them come the routes here and the OpenAPI document."""

from __future__ import annotations

from app.api import campaigns, contacts, deliveries, openapi, pledges, webhook_endpoints
from app.api.contract import Operation, routes_for

operations: list[Operation] = [
    *openapi.operations,
    *campaigns.operations,
    *pledges.operations,
    *webhook_endpoints.operations,
    *deliveries.operations,
    *contacts.operations,
]
routes = routes_for(operations)
