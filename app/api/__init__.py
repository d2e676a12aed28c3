"""The JSON API under /api/v1, one module per resource; the OpenAPI document describes it."""

from __future__ import annotations

from app.api import campaigns, contacts, deliveries, openapi, pledges, webhook_endpoints

routes = [
    *openapi.routes,
    *campaigns.routes,
    *pledges.routes,
    *webhook_endpoints.routes,
    *deliveries.routes,
    *contacts.routes,
]
