"""The JSON API under /api/v1, one module per resource. Each module declares its operations
(app/api/contract.py); from them come the routes here and the OpenAPI document.

A new operation: declare its request and response models (pydantic, in its module; shared
ones in models.py), decorate the handler with `@operation(method, path, operation_id=...,
caller=..., body=..., answers={201: Answer(...)})`, and list it in the module's `operations`.
"""

from __future__ import annotations

from app.api import (
    campaigns,
    choices,
    contacts,
    deliveries,
    delivery_record,
    demand,
    hand_notes,
    leads,
    letters,
    offers,
    openapi,
    pledges,
    premises,
    responses,
    webhook_endpoints,
)
from app.api.contract import Operation, routes_for

operations: list[Operation] = [
    *openapi.operations,
    *campaigns.operations,
    *leads.operations,
    *premises.operations,
    *hand_notes.operations,
    *pledges.operations,
    *webhook_endpoints.operations,
    *deliveries.operations,
    *contacts.operations,
    *delivery_record.operations,
    *letters.operations,
    *demand.operations,
    *responses.operations,
    *offers.operations,
    *choices.operations,
]
routes = routes_for(operations)
